import { createDecipheriv, hkdfSync } from 'node:crypto';
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyPairToJwk } from '../../src/crypto/keys.js';
import { openWithEd25519, sealToEd25519 } from '../../src/crypto/seal.js';

/**
 * R28: the log receipt's seal (docs/api.md, "POST /v1/mappings"): X25519 to the holder key's
 * Montgomery form, HKDF-SHA256, AES-256-GCM. Pinned against libsodium's Ed25519-to-X25519
 * conversion, so another implementation following the recipe opens what the DP seals.
 */
describe('sealing a secret to an Ed25519 holder key', () => {
  const info = 'mimi-discovery/v1/log-receipt\nid';

  it('opens with the holder key, following the published recipe with libsodium', () => {
    const holder = generateKeyPair();
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    const sealed = sealToEd25519(holder.publicKey, secret, info);
    expect(openWithEd25519(holder.privateKey, sealed, info)).toEqual(secret);

    const jwk = keyPairToJwk(holder);
    const pk = Buffer.from(jwk.x, 'base64url');
    const sk = Buffer.concat([Buffer.from(jwk.d!, 'base64url'), pk]);
    const xPk = Buffer.alloc(32);
    const xSk = Buffer.alloc(32);
    sodium.crypto_sign_ed25519_pk_to_curve25519(xPk, pk);
    sodium.crypto_sign_ed25519_sk_to_curve25519(xSk, sk);
    const epk = Buffer.from(sealed.epk, 'base64url');
    const shared = Buffer.alloc(32);
    sodium.crypto_scalarmult(shared, xSk, epk);
    const key = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, xPk]), info, 32));
    const ct = Buffer.from(sealed.ct, 'base64url');
    const d = createDecipheriv('aes-256-gcm', key, Buffer.alloc(12));
    d.setAuthTag(ct.subarray(-16));
    expect(Uint8Array.from(Buffer.concat([d.update(ct.subarray(0, -16)), d.final()]))).toEqual(secret);
  });

  it('does not open with another key, another info, a changed byte, or a low-order ephemeral key', () => {
    const holder = generateKeyPair();
    const sealed = sealToEd25519(holder.publicKey, new Uint8Array(32), info);
    expect(openWithEd25519(generateKeyPair().privateKey, sealed, info)).toBeUndefined();
    expect(openWithEd25519(holder.privateKey, sealed, `${info}x`)).toBeUndefined();
    const ct = Buffer.from(sealed.ct, 'base64url');
    ct[0]! ^= 1;
    expect(
      openWithEd25519(holder.privateKey, { ...sealed, ct: ct.toString('base64url') }, info),
    ).toBeUndefined();
    const zero = Buffer.alloc(32).toString('base64url');
    expect(openWithEd25519(holder.privateKey, { ...sealed, epk: zero }, info)).toBeUndefined();
    // Each seal draws a fresh ephemeral key: two seals of one secret share nothing.
    const again = sealToEd25519(holder.publicKey, new Uint8Array(32), info);
    expect(again.epk).not.toBe(sealed.epk);
    expect(again.ct).not.toBe(sealed.ct);
  });
});
