import { util } from '@cloudflare/privacypass-ts';
import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import {
  tokenKeyPrefix as keyPrefix,
  tokenKeySuffix as keySuffix,
  PrivacyPass,
  type TokenFields,
  tokenChallengeFor,
} from '../protocol/privacy-pass.js';
import { blind, unblind } from './blind-rsa.js';

/**
 * Privacy Pass token type 2 (RFC 9578 §6) over WebCrypto: the client's blind and finalize (the
 * RSA blinding in blind-rsa.ts, cross-checked against @cloudflare/privacypass-ts), the origin's
 * verification. Usable in the SDK (no node:crypto). The issuer's blind signature is in
 * server/token-issuer.ts.
 */

type CryptoKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

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
  const bytes = tokenKey;
  if (
    bytes.length !== PrivacyPass.TokenKeyLength ||
    !equalBytes(bytes.subarray(0, keyPrefix.length), keyPrefix) ||
    !equalBytes(bytes.subarray(bytes.length - keySuffix.length), keySuffix) ||
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
export async function verifyTokenSignature(
  token: Pick<TokenFields, 'authInput' | 'authenticator'>,
  key: CryptoKey,
): Promise<boolean> {
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

/** Imported token keys, by their encoding: a client fetches many tokens under one key. */
const imported = new Map<string, Promise<CryptoKey>>();

function importedKey(tokenKey: Uint8Array): Promise<CryptoKey> {
  const id = toB64u(tokenKey);
  let key = imported.get(id);
  if (key === undefined) {
    if (imported.size >= 16) imported.clear();
    key = importTokenKey(tokenKey);
    // A refused key is not kept: the next call is refused the same way, and nothing grows.
    key.catch(() => imported.delete(id));
    imported.set(id, key);
  }
  return key;
}

/**
 * RFC 9578 §6.1: the token input (token type, a fresh nonce, the challenge's digest, the key id)
 * blinded for the issuer (RFC 9474, src/crypto/blind-rsa.ts); §6.3: the answer unblinded and
 * checked (RSASSA-PSS-VERIFY) before the token is built.
 */
export async function blindTokenRequest(
  tokenKey: Uint8Array,
  issuerName: string,
  dpId: string,
): Promise<PendingToken> {
  const key = await importedKey(tokenKey);
  const pk = { n: tokenKey.slice(keyPrefix.length, keyPrefix.length + PrivacyPass.Nk), e: 65537n };
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const challenge = tokenChallengeFor(issuerName, dpId).serialize();
  const challengeDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', challenge));
  const keyId = await tokenKeyId(tokenKey);
  const tokenInput = new Uint8Array(2 + 32 + 32 + PrivacyPass.Nid);
  tokenInput.set([PrivacyPass.TokenType >> 8, PrivacyPass.TokenType & 0xff], 0);
  tokenInput.set(nonce, 2);
  tokenInput.set(challengeDigest, 34);
  tokenInput.set(keyId, 66);
  const { blindedMsg, inv } = await blind(pk, tokenInput);
  const request = new Uint8Array(PrivacyPass.TokenRequestLength);
  // token_type, truncated_token_key_id (the key id's last byte), blinded_msg.
  request.set([PrivacyPass.TokenType >> 8, PrivacyPass.TokenType & 0xff, keyId[PrivacyPass.Nid - 1]!], 0);
  request.set(blindedMsg, 3);
  return {
    request,
    async finalize(response) {
      if (response.length !== PrivacyPass.Nk) {
        throw new MimiError('token-invalid', `a token response is ${PrivacyPass.Nk} bytes`);
      }
      let authenticator: Uint8Array;
      try {
        authenticator = unblind(pk, response, inv);
      } catch {
        throw new MimiError('token-invalid', 'the issuer answer does not finalize to a valid token');
      }
      // RFC 9474 §4.3 step 5: the unblinded signature must verify under the issuer key.
      const token = new Uint8Array(PrivacyPass.TokenLength);
      token.set(tokenInput, 0);
      token.set(authenticator, tokenInput.length);
      if (!(await verifyTokenSignature({ authInput: tokenInput, authenticator }, key))) {
        throw new MimiError('token-invalid', 'the issuer answer does not finalize to a valid token');
      }
      return token;
    },
  };
}
