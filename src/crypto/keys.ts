import { fromB64u, toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { cryptoProvider } from './provider.js';

let secretOf: (key: SigningKey) => Uint8Array;

/**
 * An Ed25519 private key (holder, MSP, DP, registry or log key). Its bytes stay inside: it signs
 * through the crypto provider (src/crypto/provider.ts), so one key works with the server's native
 * implementation and with the SDK's portable one, in Node and in a browser alike. Logging it or
 * serialising it shows the public key only; keyPairToJwk is the one way its secret leaves it.
 *
 * @example
 * const key = SigningKey.generate();
 * const sig = key.sign(new TextEncoder().encode('hello'));
 */
export class SigningKey {
  /** libsodium's form of the secret key: the 32-byte RFC 8032 seed || the public key. */
  readonly #secret: Uint8Array;
  /** The public key, base64url of its 32 raw bytes. */
  readonly publicKey: string;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.publicKey = toB64u(secret.subarray(32));
  }

  static {
    secretOf = (key) => key.#secret;
  }

  /**
   * The key of a 32-byte RFC 8032 seed (the `d` of its JWK).
   *
   * @example
   * const key = SigningKey.fromSeed(seed);
   */
  static fromSeed(seed: Uint8Array): SigningKey {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new TypeError('an Ed25519 seed is a 32-byte Uint8Array');
    }
    return new SigningKey(Uint8Array.from(cryptoProvider().ed25519KeyPair(seed).secretKey));
  }

  /**
   * A new key from 32 random bytes (`random` defaults to the provider's secure source).
   *
   * @example
   * const key = SigningKey.generate();
   */
  static generate(
    random: (length: number) => Uint8Array = (n) => cryptoProvider().randomBytes(n),
  ): SigningKey {
    const seed = random(32);
    try {
      return SigningKey.fromSeed(seed);
    } finally {
      seed.fill(0);
    }
  }

  /**
   * The RFC 8032 signature (64 bytes) of `message`.
   *
   * @example
   * const sig = key.sign(new TextEncoder().encode('hello'));
   */
  sign(message: Uint8Array): Uint8Array {
    return cryptoProvider().signEd25519(this.#secret, message);
  }
}

/** A copy of the key's 32-byte seed: for its JWK and for opening a seal to it (src/crypto/seal.ts). */
export function seedOf(key: SigningKey): Uint8Array {
  return secretOf(key).slice(0, 32);
}

/**
 * An Ed25519 key pair; the public key travels as base64url of its 32 raw bytes.
 *
 * @example
 * const { publicKey } = generateKeyPair();
 */
export interface KeyPair {
  publicKey: string;
  privateKey: SigningKey;
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
  const privateKey = SigningKey.generate();
  return { privateKey, publicKey: privateKey.publicKey };
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
  const seed = fromB64u(k.d, `${field}.d`, 32);
  const privateKey = SigningKey.fromSeed(seed);
  seed.fill(0);
  // A JWK whose x does not belong to d would sign with one key and advertise another.
  if (privateKey.publicKey !== k.x) throw new MimiError('config-invalid', `${field}: x does not match d`);
  return { privateKey, publicKey: k.x };
}

/**
 * A key pair as its private JWK (RFC 8037), to keep it on the device.
 *
 * @example
 * await writeFile('holder.jwk', JSON.stringify(keyPairToJwk(key)), { mode: 0o600 });
 */
export function keyPairToJwk(pair: KeyPair): Ed25519Jwk {
  const seed = seedOf(pair.privateKey);
  const d = toB64u(seed);
  seed.fill(0);
  return { kty: 'OKP', crv: 'Ed25519', x: pair.privateKey.publicKey, d };
}

/** The 32 raw bytes of a base64url Ed25519 public key; throws record-invalid on a bad encoding. */
export function importPublicKey(b64u: string, field = 'key'): Uint8Array {
  return fromB64u(b64u, field, 32);
}

export { toB64u };
