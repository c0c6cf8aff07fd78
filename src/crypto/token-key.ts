import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { tokenKeyPrefix, tokenKeySuffix } from '../protocol/privacy-pass.js';

/**
 * Privacy Pass issuer keys (RFC 9578 §6.5) over node:crypto alone, without the Privacy Pass
 * library: what the issuer, its key generation and the devnet need to turn an RSA key into the
 * token key the registry lists.
 */

/** The token key encoding of a 2048-bit modulus (big-endian, 256 bytes) with exponent 65537. */
export function tokenKeyFromModulus(n: Uint8Array): Uint8Array {
  if (n.length !== 256 || (n[0]! & 0x80) === 0) throw new TypeError('a 2048-bit modulus is 256 bytes');
  return new Uint8Array(Buffer.concat([tokenKeyPrefix, n, tokenKeySuffix]));
}

export interface IssuerKeyMaterial {
  key: KeyObject;
  /** RFC 9578 §6.5 encoding, and token_key_id = SHA-256 of it. */
  tokenKey: Uint8Array;
  tokenKeyId: Uint8Array;
}

/** Reads a PKCS#8 RSA-2048 key (exponent 65537); TypeError for any other key. */
export function issuerKeyFromPem(pem: string): IssuerKeyMaterial {
  const key = createPrivateKey(pem);
  const jwk = key.export({ format: 'jwk' });
  if (
    key.asymmetricKeyType !== 'rsa' ||
    key.asymmetricKeyDetails?.modulusLength !== 2048 ||
    jwk.e !== 'AQAB'
  ) {
    throw new TypeError('an issuer key is an RSA-2048 PKCS#8 key with exponent 65537');
  }
  const tokenKey = tokenKeyFromModulus(Buffer.from(jwk.n ?? '', 'base64url'));
  return { key, tokenKey, tokenKeyId: createHash('sha256').update(tokenKey).digest() };
}

/** The base64url token key (as the registry lists it) of a PKCS#8 issuer key. */
export function tokenKeyOf(pem: string): string {
  return Buffer.from(issuerKeyFromPem(pem).tokenKey).toString('base64url');
}

/** An issuer's user credential as its config lists it: base64url SHA-256. */
export function credentialHash(credential: string): string {
  return createHash('sha256').update(credential).digest('base64url');
}
