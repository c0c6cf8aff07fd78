import { createHash } from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HolderClient } from '../../src/client/holder.js';
import { generateKeyPair, keyPairToJwk } from '../../src/crypto/keys.js';
import { cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { nodeCrypto } from '../../src/crypto/provider-node.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';
import { openWithEd25519, sealOverhead, sealToEd25519 } from '../../src/crypto/seal.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { logReceipt } from '../../src/dp/log-pseudonym.js';
import { LogReceipt, logReceiptInfo } from '../../src/protocol/answers.js';
import { isMimiError } from '../../src/protocol/errors.js';
import { decodeRecord } from '../../src/protocol/records.js';
import { Federation } from '../support/federation.js';

/**
 * R28: the log receipt's seal (docs/spec/api.md, "The acceptance receipt"): a libsodium sealed
 * box to the holder key's X25519 form, of SHA-256(info) || secret. Checked against libsodium's
 * WebAssembly build (libsodium-wrappers-sumo) called directly, so another platform's libsodium
 * opens what the DP seals and the DP opens what it seals; run through each crypto provider
 * (src/crypto/provider.ts): the server's native one, the SDK's in Node and its portable one.
 */
describe.each([nativeCrypto, nodeCrypto, wasmCrypto])(
  'sealing a secret to an Ed25519 holder key (libsodium sealed box, $name provider)',
  (provider) => {
    const before = cryptoProvider();
    beforeAll(async () => {
      await sodium.ready;
      useCryptoProvider(provider);
    });
    afterAll(() => useCryptoProvider(before));
    const info = 'mimi-discovery/v1/log-receipt\nid';
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    const ctx = createHash('sha256').update(info).digest();
    const xKeys = (holder: ReturnType<typeof generateKeyPair>) => {
      const jwk = keyPairToJwk(holder);
      const pk = Buffer.from(jwk.x, 'base64url');
      const sk = Buffer.concat([Buffer.from(jwk.d!, 'base64url'), pk]);
      return {
        publicKey: sodium.crypto_sign_ed25519_pk_to_curve25519(pk),
        privateKey: sodium.crypto_sign_ed25519_sk_to_curve25519(sk),
      };
    };

    it('opens with the holder key, and is a plain sealed box any libsodium opens', () => {
      const holder = generateKeyPair();
      const sealed = sealToEd25519(holder.publicKey, secret, info);
      expect(Buffer.from(sealed, 'base64url').length).toBe(secret.length + sealOverhead);
      expect(openWithEd25519(holder.privateKey, sealed, info)).toEqual(secret);

      const x = xKeys(holder);
      const plain = sodium.crypto_box_seal_open(Buffer.from(sealed, 'base64url'), x.publicKey, x.privateKey);
      expect(Buffer.from(plain)).toEqual(Buffer.concat([ctx, secret]));
      // And the other way: what another libsodium seals, the project opens.
      const theirs = sodium.crypto_box_seal(Buffer.concat([ctx, secret]), x.publicKey);
      expect(openWithEd25519(holder.privateKey, Buffer.from(theirs).toString('base64url'), info)).toEqual(
        secret,
      );
    });

    it('does not open tampered, truncated, for another holder, in another context, or with a small-order ephemeral key', () => {
      const holder = generateKeyPair();
      const sealed = sealToEd25519(holder.publicKey, secret, info);
      const bytes = Buffer.from(sealed, 'base64url');
      for (const i of [0, 32, 40, bytes.length - 1]) {
        const t = Buffer.from(bytes);
        t[i]! ^= 1;
        expect(openWithEd25519(holder.privateKey, t.toString('base64url'), info)).toBeUndefined();
      }
      for (const n of [1, 16, sealOverhead]) {
        const cut = bytes.subarray(0, bytes.length - n).toString('base64url');
        expect(openWithEd25519(holder.privateKey, cut, info)).toBeUndefined();
      }
      expect(openWithEd25519(generateKeyPair().privateKey, sealed, info)).toBeUndefined();
      expect(openWithEd25519(holder.privateKey, sealed, `${info}x`)).toBeUndefined();
      expect(
        openWithEd25519(holder.privateKey, sealed, 'mimi-discovery/v1/log-receipt\nother'),
      ).toBeUndefined();
      // A box sealed to the holder for another context, re-labelled, still carries that context.
      const x = xKeys(holder);
      const other = sodium.crypto_box_seal(
        Buffer.concat([createHash('sha256').update('another context').digest(), secret]),
        x.publicKey,
      );
      expect(
        openWithEd25519(holder.privateKey, Buffer.from(other).toString('base64url'), info),
      ).toBeUndefined();
      // The ephemeral key replaced by a point of small order (zero, one): the shared secret is refused.
      for (const low of [Buffer.alloc(32), Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])]) {
        const t = Buffer.concat([low, bytes.subarray(32)]).toString('base64url');
        expect(openWithEd25519(holder.privateKey, t, info)).toBeUndefined();
      }
      expect(openWithEd25519(holder.privateKey, `${sealed}=`, info)).toBeUndefined();
      // Each seal draws a fresh ephemeral key: two seals of one secret share nothing.
      const again = sealToEd25519(holder.publicKey, secret, info);
      expect(again.slice(0, 43)).not.toBe(sealed.slice(0, 43));
      expect(again).not.toBe(sealed);
    });

    it('refuses to seal to a small-order or non-canonical Ed25519 key, with key-invalid', () => {
      const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]); // y = 1, the neutral point
      const order2 = Buffer.concat([Buffer.from([0xec]), Buffer.alloc(30, 0xff), Buffer.from([0x7f])]); // y = -1
      const yAtLeastP = Buffer.concat([Buffer.from([0xee]), Buffer.alloc(30, 0xff), Buffer.from([0x7f])]); // y = p + 1
      for (const key of [identity, order2, yAtLeastP]) {
        let err: unknown;
        try {
          sealToEd25519(key.toString('base64url'), secret, info);
        } catch (e) {
          err = e;
        }
        expect(isMimiError(err, 'key-invalid')).toBe(true);
      }
    });
  },
);

describe('the acceptance receipt (R28): the seal cannot be moved to another mapping or holder', () => {
  const fed = new Federation();
  const holder = generateKeyPair();
  const client = new HolderClient({ dp: { baseUrl: 'https://dp1.example' }, key: holder });
  const pseudonym = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const idA = 'A'.repeat(43);
  const idB = `${'B'.repeat(42)}A`;
  const receiptFor = (mappingId: string, holderKey = holder.publicKey) =>
    logReceipt({ dp: 'dp1', dpKey: fed.dpKeys.records.privateKey, mappingId, holderKey, pseudonym });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return isMimiError(e) ? e.code : 'not a MimiError';
    }
    return 'none';
  };

  it('opens for its holder and mapping, and matches the wire schema', () => {
    const r = receiptFor(idA);
    expect(() => decodeRecord(LogReceipt, r, 'receipt')).not.toThrow();
    expect(client.openReceipt(r, { mappingId: idA, registry: fed.registry })).toBe(
      Buffer.from(pseudonym).toString('base64url'),
    );
  });

  it('is refused with log-receipt-invalid when moved, swapped, re-signed by another, or for another holder', () => {
    const a = receiptFor(idA);
    const b = receiptFor(idB);
    // Presented for another mapping, or relabelled to it.
    expect(code(() => client.openReceipt(a, { mappingId: idB, registry: fed.registry }))).toBe(
      'log-receipt-invalid',
    );
    expect(
      code(() => client.openReceipt({ ...a, mapping: idB }, { mappingId: idB, registry: fed.registry })),
    ).toBe('log-receipt-invalid');
    // The seal of one receipt swapped into another breaks the DP's signature.
    expect(
      code(() => client.openReceipt({ ...a, sealed: b.sealed }, { mappingId: idA, registry: fed.registry })),
    ).toBe('log-receipt-invalid');
    // An MSP seals a pseudonym of its choosing to the holder: it cannot sign as the DP.
    const forged = { ...a, sealed: sealToEd25519(holder.publicKey, new Uint8Array(32), logReceiptInfo(idA)) };
    expect(code(() => client.openReceipt(forged, { mappingId: idA, registry: fed.registry }))).toBe(
      'log-receipt-invalid',
    );
    // Another holder's receipt.
    const other = receiptFor(idA, generateKeyPair().publicKey);
    expect(code(() => client.openReceipt(other, { mappingId: idA, registry: fed.registry }))).toBe(
      'log-receipt-invalid',
    );
    // Even signed by the DP, a seal made for mapping B does not open as mapping A's: the context is inside.
    const { sig: _sig, ...unsigned } = { ...a, sealed: b.sealed };
    const resigned = {
      ...unsigned,
      sig: signObject(SignPurpose.LogReceipt, unsigned, fed.dpKeys.records.privateKey),
    };
    expect(code(() => client.openReceipt(resigned, { mappingId: idA, registry: fed.registry }))).toBe(
      'log-receipt-invalid',
    );
    // Cut short: the schema refuses it, and so does the SDK.
    const cut = { ...a, sealed: a.sealed.slice(0, 120) };
    expect(code(() => decodeRecord(LogReceipt, cut, 'receipt'))).toBe('record-invalid');
    expect(code(() => client.openReceipt(cut, { mappingId: idA, registry: fed.registry }))).toBe(
      'log-receipt-invalid',
    );
  });
});
