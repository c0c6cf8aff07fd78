import type { webcrypto } from 'node:crypto';
import { publicVerif, util } from '@cloudflare/privacypass-ts';
import { MimiError } from '../protocol/errors.js';
import { PrivacyPass, type TokenFields, tokenChallengeFor } from '../protocol/privacy-pass.js';
import { tokenKeyPrefix as keyPrefix, tokenKeySuffix as keySuffix } from './token-key.js';

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
 * Imports a token key as published, for verification; refuses any other shape of key. Checked byte
 * for byte (token-key.ts), since WebCrypto reads only the rsaEncryption OID and the library's
 * conversion replaces the RSASSA-PSS parameters without looking at them.
 */
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
