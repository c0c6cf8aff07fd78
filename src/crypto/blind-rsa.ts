/**
 * The client's half of RSA blind signatures (RFC 9474 §4.1-4.3), RSABSSA-SHA384-PSS-Deterministic,
 * as token type 2 of Privacy Pass uses it (RFC 9578 §6), with the language's BigInt and
 * WebCrypto's SHA-384 only (no node:crypto: the SDK runs in a browser).
 *
 * Written here rather than through @cloudflare/blindrsa-ts because that library does its
 * modular arithmetic (the coprimality check, the inverse of the blind, r^e) in sjcl's pure-JS
 * bignums: about 50 ms of client CPU per token here, against a few ms with BigInt, and a
 * contact sync spends one token per evaluation request. The result is the same bytes: RFC 9578
 * Appendix A.2 vectors and a cross-check against the library
 * (test/crypto/rfc9578-privacy-pass.test.ts). Random values are drawn in the library's order
 * (salt, then blind), so the vectors' values can be fed the same way.
 *
 * BigInt arithmetic is not constant-time, nor was sjcl's: the blind's secrecy against an observer
 * of this device's timing is not a property either gives. The issuer sees only blinded_msg,
 * which is uniform whatever the message.
 */
import { MimiError } from '../protocol/errors.js';

const hLen = 48; // SHA-384
const sLen = 48; // RFC 9578 §6: salt length 48

export interface BlindRsaPublicKey {
  /** The modulus, big-endian, its top bit set. */
  n: Uint8Array;
  e: bigint;
}

export interface Blinded {
  /** blinded_msg, modulus-length bytes: what the issuer signs. */
  blindedMsg: Uint8Array;
  /** The inverse of the blind, kept to unblind (RFC 9474 §4.3). */
  inv: bigint;
}

const toBig = (b: Uint8Array): bigint => {
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return hex === '' ? 0n : BigInt(`0x${hex}`);
};

/** I2OSP: `x` as exactly `len` big-endian bytes. */
function toBytes(x: bigint, len: number): Uint8Array {
  const hex = x.toString(16).padStart(2 * len, '0');
  if (hex.length > 2 * len) throw new RangeError('integer too large');
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function sha384(...parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-384', all));
}

/** RFC 8017 B.2.1 MGF1 with SHA-384. */
async function mgf1(seed: Uint8Array, len: number): Promise<Uint8Array> {
  const out = new Uint8Array(Math.ceil(len / hLen) * hLen);
  for (let i = 0; i * hLen < len; i++) {
    out.set(await sha384(seed, toBytes(BigInt(i), 4)), i * hLen);
  }
  return out.subarray(0, len);
}

/** RFC 8017 §9.1.1 EMSA-PSS-ENCODE(msg, emBits), SHA-384, MGF1-SHA-384, a fresh 48-byte salt. */
async function emsaPssEncode(msg: Uint8Array, emBits: number): Promise<Uint8Array> {
  const emLen = Math.ceil(emBits / 8);
  const mHash = await sha384(msg);
  if (emLen < hLen + sLen + 2) throw new MimiError('internal', 'encoding error');
  const salt = crypto.getRandomValues(new Uint8Array(sLen));
  const h = await sha384(new Uint8Array(8), mHash, salt);
  // DB = PS || 0x01 || salt, masked with MGF1(H); the bits above emBits cleared.
  const db = new Uint8Array(emLen - hLen - 1);
  db[emLen - sLen - hLen - 2] = 0x01;
  db.set(salt, emLen - sLen - hLen - 1);
  const mask = await mgf1(h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >>> (8 * emLen - emBits);
  const em = new Uint8Array(emLen);
  em.set(db, 0);
  em.set(h, db.length);
  em[emLen - 1] = 0xbc;
  return em;
}

/** x^-1 mod m by the extended Euclidean algorithm; undefined when gcd(x, m) != 1. */
function inverseMod(x: bigint, m: bigint): bigint | undefined {
  let [r0, r1] = [x % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) return undefined;
  return ((s0 % m) + m) % m;
}

function powMod(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

/**
 * RFC 9474 §4.2 Blind, with the deterministic (empty) prepare of RFC 9578 §6: msg is the token
 * input as it is. Errors: "invalid input" (msg's encoding shares a factor with n), "blinding
 * error" (no blind found), both `internal` (negligible unless the key is bad).
 */
export async function blind(pk: BlindRsaPublicKey, msg: Uint8Array): Promise<Blinded> {
  const kLen = pk.n.length;
  const n = toBig(pk.n);
  const modBits = n.toString(2).length;
  const m = toBig(await emsaPssEncode(msg, modBits - 1));
  if (inverseMod(m, n) === undefined) throw new MimiError('internal', 'invalid input');
  // §4.1 random_integer_uniform(1, n): modulus-length draws, the out-of-range ones drawn again.
  for (let tries = 0; tries < 128; tries++) {
    const r = toBig(crypto.getRandomValues(new Uint8Array(kLen)));
    if (r === 0n || r >= n) continue;
    const inv = inverseMod(r, n);
    if (inv === undefined) throw new MimiError('internal', 'blinding error');
    const z = (m * powMod(r, pk.e, n)) % n;
    return { blindedMsg: toBytes(z, kLen), inv };
  }
  throw new MimiError('internal', 'blinding error');
}

/**
 * RFC 9474 §4.3 Finalize up to the signature: s = z * inv mod n, as modulus-length bytes. The
 * caller verifies it (RSASSA-PSS-VERIFY) before using it; a wrong length is refused here.
 */
export function unblind(pk: BlindRsaPublicKey, blindSig: Uint8Array, inv: bigint): Uint8Array {
  if (blindSig.length !== pk.n.length) throw new MimiError('token-invalid', 'unexpected input size');
  const n = toBig(pk.n);
  const z = toBig(blindSig);
  if (z >= n) throw new MimiError('token-invalid', 'signature representative out of range');
  return toBytes((z * inv) % n, pk.n.length);
}
