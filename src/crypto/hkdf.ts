import { cryptoProvider } from './provider.js';

const firstBlock = Uint8Array.of(1);

/**
 * HKDF-SHA256 (RFC 5869 §2.2, §2.3) over the crypto provider's HMAC: written here rather than taken
 * from @noble/hashes/hkdf because that one runs @noble/hashes' HMAC everywhere, and the provider's
 * is node:crypto's on the server and in Node (several times faster), where every accept seals a
 * private entry and every private lookup opens one. An empty salt is HashLen zeros (§2.2): HMAC
 * pads its key with zeros, so both are the same key.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32)
    throw new TypeError('HKDF length out of range');
  const { hmacSha256 } = cryptoProvider();
  const prk = hmacSha256(salt, ikm);
  // One block (every key and nonce here): T(1) = HMAC(PRK, info || 0x01).
  if (length <= 32) return hmacSha256(prk, info, firstBlock).subarray(0, length);
  const okm = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++, o += 32) {
    t = hmacSha256(prk, t, info, Uint8Array.of(i));
    okm.set(t.subarray(0, length - o), o);
  }
  return okm;
}
