import type { webcrypto } from 'node:crypto';
import { publicVerif, util } from '@cloudflare/privacypass-ts';
import { MimiError } from '../protocol/errors.js';
import { PrivacyPass, type TokenFields, tokenChallengeFor } from '../protocol/privacy-pass.js';

/**
 * Privacy Pass token type 2 (RFC 9578 §6) over WebCrypto, through @cloudflare/privacypass-ts and
 * its @cloudflare/blindrsa-ts: the client's blind and finalize, the origin's verification. Usable
 * in the SDK (no node:crypto). The issuer's blind signature is in server/token-issuer.ts.
 */

type CryptoKey = webcrypto.CryptoKey;

const rsaPss = { name: 'RSA-PSS', hash: 'SHA-384' } as const;

/** RFC 9578 §6.5: token_key_id = SHA-256(pkS encoding). */
export async function tokenKeyId(tokenKey: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', tokenKey));
}

/**
 * RFC 9578 §6.5: every type-2 token key is the same DER around its modulus: SPKI, id-RSASSA-PSS
 * with SHA-384, MGF1-SHA-384, salt 48, a 2048-bit modulus, exponent 65537. Checked byte for byte,
 * since WebCrypto reads only the rsaEncryption OID and the conversion replaces these parameters.
 */
const keyPrefix = Buffer.from(
  '30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100',
  'hex',
);
const keySuffix = Buffer.from('0203010001', 'hex');

/** The token key encoding of a 2048-bit modulus (big-endian, 256 bytes) with exponent 65537. */
export function tokenKeyFromModulus(n: Uint8Array): Uint8Array {
  if (n.length !== PrivacyPass.Nk || (n[0]! & 0x80) === 0)
    throw new TypeError('a 2048-bit modulus is 256 bytes');
  return new Uint8Array(Buffer.concat([keyPrefix, n, keySuffix]));
}

/** Imports a token key as published, for verification; refuses any other shape of key. */
export async function importTokenKey(tokenKey: Uint8Array): Promise<CryptoKey> {
  const bytes = Buffer.from(tokenKey);
  if (
    bytes.length !== PrivacyPass.TokenKeyLength ||
    !bytes.subarray(0, keyPrefix.length).equals(keyPrefix) ||
    !bytes.subarray(bytes.length - keySuffix.length).equals(keySuffix) ||
    (bytes[keyPrefix.length]! & 0x80) === 0
  ) {
    throw new MimiError('token-key-unknown', 'a token key is a 2048-bit RSASSA-PSS SPKI (RFC 9578 §6.5)');
  }
  try {
    // WebCrypto imports only the rsaEncryption OID (library note: w3c/webcrypto#325).
    return await crypto.subtle.importKey('spki', util.convertRSASSAPSSToEnc(tokenKey), rsaPss, true, [
      'verify',
    ]);
  } catch {
    throw new MimiError('token-key-unknown', 'the token key does not parse');
  }
}

/** RFC 9578 §6.4: the authenticator is an RSASSA-PSS (SHA-384, salt 48) signature on authInput. */
export async function verifyTokenSignature(token: TokenFields, key: CryptoKey): Promise<boolean> {
  return crypto.subtle.verify({ name: 'RSA-PSS', saltLength: 48 }, key, token.authenticator, token.authInput);
}

/**
 * One token being fetched (RFC 9578 §6.1, §6.3): `request` goes to the issuer, `finalize` turns
 * its answer into a token, after checking the signature against the issuer key. The blinding
 * keeps the issuer from seeing the nonce, the challenge or the token it signs.
 */
export interface PendingToken {
  request: Uint8Array;
  finalize(response: Uint8Array): Promise<Uint8Array>;
}

export async function blindTokenRequest(
  tokenKey: Uint8Array,
  issuerName: string,
  dpId: string,
): Promise<PendingToken> {
  const client = new publicVerif.Client(publicVerif.BlindRSAMode.PSS);
  const request = await client.createTokenRequest(tokenChallengeFor(issuerName, dpId), tokenKey);
  return {
    request: request.serialize(),
    async finalize(response) {
      if (response.length !== PrivacyPass.Nk) {
        throw new MimiError('token-invalid', `a token response is ${PrivacyPass.Nk} bytes`);
      }
      try {
        // RFC 9474 §4.3: finalize verifies the unblinded signature against the issuer key.
        const token = await client.finalize(new publicVerif.TokenResponse(response.slice()));
        return token.serialize();
      } catch {
        throw new MimiError('token-invalid', 'the issuer answer does not finalize to a valid token');
      }
    },
  };
}
