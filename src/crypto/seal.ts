import { fromB64u, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { type SigningKey, seedOf } from './keys.js';
import { cryptoProvider, sealBytes } from './provider.js';

/**
 * A short secret sealed to the holder of an Ed25519 key: libsodium's sealed box
 * (crypto_box_seal: a fresh X25519 key, XSalsa20-Poly1305, nonce BLAKE2b-192(epk || pk)) to the
 * holder key's X25519 form (crypto_sign_ed25519_pk_to_curve25519). Every platform an MSP app runs
 * on has these two calls, so nothing here is ours but the plaintext: SHA-256(info) || secret.
 * A sealed box names no sender and has no associated data; the digest of `info` inside it binds
 * the secret to its context, so a seal made for one context (one mapping) opens in no other.
 * The DP seals a holder's log pseudonym into the acceptance so the MSP that relays the answer
 * cannot read it (R28); the holder opens it with its signing key.
 */

/** Bytes a seal adds to the secret: the ephemeral key, the Poly1305 tag and the context digest. */
export const sealOverhead = sealBytes + 32;

function contextOf(info: string): Uint8Array {
  return cryptoProvider().sha256(info);
}

/** Equal bytes, in time that depends on the length only. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Seals `plain` to the holder of `edPublicKey` (base64url Ed25519); `info` binds it to its context.
 * The seal, base64url, is `plain.length + sealOverhead` bytes.
 *
 * @throws {MimiError} `key-invalid` when the key is not a canonical Ed25519 point of large order
 *   (libsodium refuses to convert it, or the X25519 product is all zero).
 */
export function sealToEd25519(edPublicKey: string, plain: Uint8Array, info: string): string {
  const edPk = fromB64u(edPublicKey, 'key', 32);
  const message = new Uint8Array(32 + plain.length);
  message.set(contextOf(info));
  message.set(plain, 32);
  try {
    return toB64u(cryptoProvider().sealToEd25519(edPk, message));
  } catch {
    throw new MimiError('key-invalid', 'not a usable Ed25519 public key (small order or not canonical)');
  }
}

/**
 * Opens a seal made by sealToEd25519 with the holder's Ed25519 private key, for the context
 * `info`; undefined when it does not open (another key, another context, a changed or cut byte,
 * a small-order ephemeral key).
 */
export function openWithEd25519(
  edPrivateKey: SigningKey,
  sealed: string,
  info: string,
): Uint8Array | undefined {
  let seed: Uint8Array | undefined;
  try {
    const c = fromB64u(sealed, 'sealed');
    if (c.length < sealOverhead) return undefined;
    seed = seedOf(edPrivateKey);
    const m = cryptoProvider().openWithEd25519(seed, fromB64u(edPrivateKey.publicKey, 'key', 32), c);
    if (m === undefined || !equalBytes(m.subarray(0, 32), contextOf(info))) return undefined;
    return Uint8Array.from(m.subarray(32));
  } catch {
    return undefined;
  } finally {
    seed?.fill(0);
  }
}
