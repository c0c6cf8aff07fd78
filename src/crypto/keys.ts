import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';

/**
 * An Ed25519 key pair; the public key travels as base64url of its 32 raw bytes.
 *
 * @example
 * const { publicKey } = generateKeyPair();
 */
export interface KeyPair {
  publicKey: string;
  privateKey: KeyObject;
}

/**
 * The JWK form (RFC 8037) we keep on disk.
 *
 * @example
 * const jwk: Ed25519Jwk = keyPairToJwk(generateKeyPair());
 */
export interface Ed25519Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d?: string;
}

/**
 * A new Ed25519 key pair (holder, MSP or DP key).
 *
 * @example
 * const key = generateKeyPair();
 * const holder = new HolderClient({ dp, key });
 */
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKeyOf(publicKey) };
}

export function publicKeyOf(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined) throw new TypeError('not an Ed25519 key');
  return jwk.x;
}

/**
 * An Ed25519 key pair from its private JWK (RFC 8037); `field` names it in errors.
 *
 * @example
 * const key = keyPairFromJwk(JSON.parse(await readFile('msp1.jwk', 'utf8')));
 */
export function keyPairFromJwk(jwk: unknown, field = 'key'): KeyPair {
  const k = jwk as Partial<Ed25519Jwk> | null;
  if (k?.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string' || typeof k.d !== 'string') {
    throw new MimiError('config-invalid', `${field} is not an Ed25519 private JWK`);
  }
  fromB64u(k.x, `${field}.x`, 32);
  fromB64u(k.d, `${field}.d`, 32);
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x, d: k.d }, format: 'jwk' });
  // A JWK whose x does not belong to d would sign with one key and advertise another.
  if (publicKeyOf(privateKey) !== k.x) throw new MimiError('config-invalid', `${field}: x does not match d`);
  return { privateKey, publicKey: k.x };
}

/**
 * A key pair as its private JWK (RFC 8037), to keep it on the device.
 *
 * @example
 * await writeFile('holder.jwk', JSON.stringify(keyPairToJwk(key)), { mode: 0o600 });
 */
export function keyPairToJwk(pair: KeyPair): Ed25519Jwk {
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: pair.publicKey, d: jwk.d as string };
}

// Building a KeyObject costs more than a verify; keys repeat (registry participants), so keep
// a bounded cache of them, least recently used out first: a stream of one-off holder keys then
// never evicts the registry keys that every request uses (a Map iterates in insertion order, so
// a hit is moved to the end and the first entry is the least recently used).
const publicKeyCache = new Map<string, KeyObject>();
const publicKeyCacheLimit = 10_000;

/** The node KeyObject of a base64url Ed25519 public key; throws record-invalid on a bad encoding. */
export function importPublicKey(b64u: string, field = 'key'): KeyObject {
  const cached = publicKeyCache.get(b64u);
  if (cached !== undefined) {
    publicKeyCache.delete(b64u);
    publicKeyCache.set(b64u, cached);
    return cached;
  }
  fromB64u(b64u, field, 32);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u }, format: 'jwk' });
  } catch {
    throw new MimiError('record-invalid', `${field} is not an Ed25519 public key`);
  }
  if (publicKeyCache.size >= publicKeyCacheLimit) {
    publicKeyCache.delete(publicKeyCache.keys().next().value as string);
  }
  publicKeyCache.set(b64u, key);
  return key;
}

export { toB64u };
