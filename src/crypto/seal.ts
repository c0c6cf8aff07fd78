import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { fromB64u, toB64u } from '../protocol/encoding.js';

/**
 * A short secret sealed to the holder of an Ed25519 key: X25519 between a fresh ephemeral key and
 * the holder key's birationally equivalent Montgomery form (RFC 7748 §4.1), HKDF-SHA256, then
 * AES-256-GCM under a key used once. The DP seals a holder's log pseudonym into the acceptance so
 * the MSP that relays the answer cannot read it (R28); the holder opens it with its signing key.
 */
export interface Sealed {
  /** The ephemeral X25519 public key, base64url of 32 bytes. */
  epk: string;
  /** Ciphertext and 16-byte tag, base64url. */
  ct: string;
}

const P = 2n ** 255n - 19n;
const spkiX25519 = Buffer.from('302a300506032b656e032100', 'hex');
const pkcs8X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function bigToLe(n: bigint): Buffer {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b %= P;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

/** u = (1 + y) / (1 - y) mod p of an Ed25519 public key (RFC 7748 §4.1); undefined for y = 1. */
function montgomeryOf(edPublic: Uint8Array): Buffer | undefined {
  const bytes = Uint8Array.from(edPublic);
  bytes[31]! &= 0x7f;
  const y = leToBig(bytes);
  if (y >= P) return undefined;
  const den = (1n - y + P) % P;
  if (den === 0n) return undefined;
  return bigToLe(((1n + y) * modPow(den, P - 2n)) % P);
}

function x25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([spkiX25519, raw]), format: 'der', type: 'spki' });
}

function keyOf(shared: Buffer, epk: Buffer, recipient: Buffer, info: string): Buffer {
  if (shared.every((b) => b === 0)) throw new Error('low-order key');
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), info, 32));
}

/** Seals `plain` to the holder of `edPublicKey` (base64url Ed25519); `info` binds it to its context. */
export function sealToEd25519(edPublicKey: string, plain: Uint8Array, info: string): Sealed {
  const recipient = montgomeryOf(fromB64u(edPublicKey, 'key', 32));
  if (recipient === undefined) throw new TypeError('not a usable Ed25519 public key');
  const eph = generateKeyPairSync('x25519');
  const epk = Buffer.from(eph.publicKey.export({ format: 'der', type: 'spki' })).subarray(-32);
  const key = keyOf(
    diffieHellman({ privateKey: eph.privateKey, publicKey: x25519Public(recipient) }),
    epk,
    recipient,
    info,
  );
  // The key is fresh for every seal, so a fixed nonce is never reused under one key.
  const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
  const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  return { epk: toB64u(epk), ct: toB64u(ct) };
}

/** Opens a seal made by sealToEd25519 with the holder's Ed25519 private key; undefined if it fails. */
export function openWithEd25519(
  edPrivateKey: KeyObject,
  sealed: Sealed,
  info: string,
): Uint8Array | undefined {
  try {
    const jwk = edPrivateKey.export({ format: 'jwk' });
    if (jwk.d === undefined || jwk.x === undefined) return undefined;
    // RFC 8032 §5.1.5: the scalar is the first half of SHA-512(seed); X25519 clamps it.
    const scalar = createHash('sha512').update(Buffer.from(jwk.d, 'base64url')).digest().subarray(0, 32);
    const priv = createPrivateKey({
      key: Buffer.concat([pkcs8X25519, scalar]),
      format: 'der',
      type: 'pkcs8',
    });
    const recipient = montgomeryOf(Buffer.from(jwk.x, 'base64url'));
    if (recipient === undefined) return undefined;
    const epk = fromB64u(sealed.epk, 'epk', 32);
    const ct = fromB64u(sealed.ct, 'ct');
    if (ct.length < 16) return undefined;
    const key = keyOf(
      diffieHellman({ privateKey: priv, publicKey: x25519Public(epk) }),
      Buffer.from(epk),
      recipient,
      info,
    );
    const d = createDecipheriv('aes-256-gcm', key, Buffer.alloc(12));
    d.setAuthTag(ct.subarray(ct.length - 16));
    return Uint8Array.from(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]));
  } catch {
    return undefined;
  }
}
