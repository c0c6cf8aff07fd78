import { TokenChallenge } from '@cloudflare/privacypass-ts';
import { hexToBytes } from '@noble/hashes/utils.js';
import { decodeBase64, toB64u } from './encoding.js';
import { MimiError } from './errors.js';

/**
 * Privacy Pass on the private lookup path (R9, R22, R26; docs/spec/privacy-pass.md): RFC 9576
 * architecture, RFC 9577 HTTP authentication scheme, RFC 9578 §6 token type 0x0002, publicly
 * verifiable Blind RSA (2048), RSABSSA-SHA384-PSS-Deterministic. Each MSP is attester and issuer
 * for its own users; a DP is the origin that redeems tokens on POST /v1/private/evaluate.
 */
export const PrivacyPass = {
  /** RFC 9578 §8.2: Blind RSA (2048-bit). */
  TokenType: 0x0002,
  AuthScheme: 'PrivateToken',
  /** RFC 9578 §5/§6 (IANA media types). */
  RequestMediaType: 'application/private-token-request',
  ResponseMediaType: 'application/private-token-response',
  DirectoryMediaType: 'application/private-token-issuer-directory',
  /** RFC 9578 §4: where an issuer publishes its directory. */
  DirectoryPath: '/.well-known/private-token-issuer-directory',
  /** Nk: the modulus in bytes; Nid: SHA-256 of the key. */
  Nk: 256,
  Nid: 32,
  /** RFC 9577 §2.2: token_type(2) nonce(32) challenge_digest(32) token_key_id(32) authenticator(Nk). */
  TokenLength: 2 + 32 + 32 + 32 + 256,
  /** RFC 9578 §6.1: token_type(2) truncated_token_key_id(1) blinded_msg(Nk). */
  TokenRequestLength: 2 + 1 + 256,
  /** RFC 9578 §6.5: DER SubjectPublicKeyInfo with the RSASSA-PSS OID, SHA-384, salt 48. */
  TokenKeyLength: 342,
} as const;

/** Every type-2 token key is this DER around its 2048-bit modulus: SPKI, id-RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48. */
export const tokenKeyPrefix = hexToBytes(
  '30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100',
);
/** ... and exponent 65537. */
export const tokenKeySuffix = hexToBytes('0203010001');

/**
 * The TokenChallenge a DP issues and redeems (RFC 9577 §2.1), fixed by the registry so a client
 * can build it without asking: token type 2, the MSP's issuer name, an empty redemption context,
 * and origin_info = the DP's registry id.
 *
 * - origin_info binds a token to one DP: a token fetched for dp1 is refused at dp2 (its
 *   challenge_digest differs), so a DP cannot spend, or resell, what a client gave it.
 * - The redemption context is empty: a per-client or per-session context would let the DP link
 *   the redemptions made under it, and a per-time context would force clients to fetch tokens
 *   right before spending them (the issuer could then correlate fetch time with redemption
 *   time). The bound on how many tokens exist comes from the issuer's daily quota and the key's
 *   `notAfter`, not from the context.
 */
export function tokenChallengeFor(issuerName: string, dpId: string): TokenChallenge {
  return new TokenChallenge(PrivacyPass.TokenType, issuerName, new Uint8Array(0), [dpId]);
}

/** The parsed fields of a type-2 Token (RFC 9577 §2.2), copied out of the input. */
export interface TokenFields {
  nonce: Uint8Array;
  challengeDigest: Uint8Array;
  tokenKeyId: Uint8Array;
  authenticator: Uint8Array;
  /** token_type || nonce || challenge_digest || token_key_id: the message the authenticator signs. */
  authInput: Uint8Array;
}

/**
 * Decodes a Token exactly: 354 bytes, token type 2. Written here (not the library's
 * Token.deserialize) because that one reads past a view's offset and accepts trailing bytes.
 */
export function decodeToken(bytes: Uint8Array): TokenFields {
  if (bytes.length !== PrivacyPass.TokenLength) {
    throw new MimiError('token-malformed', `a token is ${PrivacyPass.TokenLength} bytes`);
  }
  const type = (bytes[0]! << 8) | bytes[1]!;
  if (type !== PrivacyPass.TokenType) {
    throw new MimiError('token-malformed', `token type ${type} is not ${PrivacyPass.TokenType}`);
  }
  const copy = (from: number, to: number) => bytes.slice(from, to);
  return {
    nonce: copy(2, 34),
    challengeDigest: copy(34, 66),
    tokenKeyId: copy(66, 98),
    authenticator: copy(98, PrivacyPass.TokenLength),
    authInput: copy(0, 98),
  };
}

/** True when an Authorization header is of the PrivateToken scheme (case-insensitive, RFC 9110 §11.1). */
export function isPrivateTokenHeader(header: string): boolean {
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  return scheme.toLowerCase() === PrivacyPass.AuthScheme.toLowerCase();
}

const b64u = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * The token of an `Authorization: PrivateToken token=...` header (RFC 9577 §2.2.1), or
 * undefined when the header is of another scheme. One token parameter, quoted or not,
 * base64url with or without padding; anything else is `token-malformed`.
 */
export function parsePrivateTokenHeader(header: string): Uint8Array | undefined {
  if (!isPrivateTokenHeader(header)) return undefined;
  const space = header.indexOf(' ');
  if (header.length > 1024) throw new MimiError('token-malformed', 'the PrivateToken header is too long');
  const params = header.slice(space + 1).trim();
  const m = /^token\s*=\s*("?)([^",\s]+)\1$/i.exec(params);
  if (m === null || !b64u.test(m[2]!)) {
    throw new MimiError('token-malformed', 'expected one token= parameter, base64url');
  }
  const text = m[2]!.replace(/=+$/, '');
  const bytes = decodeBase64(text);
  if (toB64u(bytes) !== text) {
    throw new MimiError('token-malformed', 'the token is not canonical base64url');
  }
  return bytes;
}

/** The Authorization header value that spends `token` (RFC 9577 §2.2.1). */
export function privateTokenHeader(token: Uint8Array): string {
  return `${PrivacyPass.AuthScheme} token="${toB64u(token)}"`;
}
