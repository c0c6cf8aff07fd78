import { fromB64u, toB64u } from '../protocol/encoding.js';
import { canonicalize } from './jcs.js';
import type { SigningKey } from './keys.js';
import { cryptoProvider } from './provider.js';

/**
 * Every signature is over "mimi-discovery/v1/" + purpose + "\n" + JCS(object without its
 * signatures), so a signature made for one kind of record can never be replayed as another
 * (DESIGN.md "Keys, signatures and encoding").
 */
export const SignPurpose = {
  Attestation: 'attestation',
  MappingHolder: 'mapping-holder',
  /** Version 1 bodies only: the MSP's signature over the body alone (verified, no longer made). */
  MappingMsp: 'mapping-msp',
  /** Version 2 bodies: the MSP's signature over the body's digest and the holder's signature. */
  MappingCountersign: 'mapping-countersign',
  MappingDp: 'mapping-dp',
  Invalidation: 'invalidation',
  KeyRotation: 'key-rotation',
  Reaffirmation: 'reaffirmation',
  /** A holder asks for a mapping of its own (R28: only parties read a mapping by id). */
  HolderRead: 'holder-read',
  /** A holder asks for its CSI's log pseudonym, with a current attestation (R28). */
  LogPseudonym: 'log-pseudonym',
  /** The DP's receipt in an acceptance: the holder's log pseudonym, sealed to the holder key (R28). */
  LogReceipt: 'log-receipt',
  Session: 'session',
  CsipEvent: 'csip-event',
  Registry: 'registry',
  Checkpoint: 'checkpoint',
} as const;
export type SignPurpose = (typeof SignPurpose)[keyof typeof SignPurpose];

const prefix = 'mimi-discovery/v1/';
const utf8 = new TextEncoder();

export function signingInput(purpose: SignPurpose, unsigned: unknown): Uint8Array {
  return signingInputOf(purpose, canonicalize(unsigned));
}

/** The same, from JSON already canonicalised (one object signed for two purposes is canonicalised once). */
export function signingInputOf(purpose: SignPurpose, canonical: string): Uint8Array {
  return utf8.encode(`${prefix}${purpose}\n${canonical}`);
}

/** Sign `unsigned` (the object without its signature fields) for `purpose`; base64url result. */
export function signObject(purpose: SignPurpose, unsigned: unknown, key: SigningKey): string {
  return toB64u(key.sign(signingInput(purpose, unsigned)));
}

/** The same over JSON already canonicalised (see signingInputOf). */
export function signCanonical(purpose: SignPurpose, canonical: string, key: SigningKey): string {
  return toB64u(key.sign(signingInputOf(purpose, canonical)));
}

/** True when `sig` is a valid signature by `publicKey` (base64url) over `unsigned` for `purpose`. */
export function verifyObject(
  purpose: SignPurpose,
  unsigned: unknown,
  sig: string,
  publicKey: string,
): boolean {
  return verifyInput(signingInput(purpose, unsigned), sig, publicKey);
}

/**
 * Verify over a signing input built with signingInput/signingInputOf.
 *
 * Through libsodium (the crypto provider's, src/crypto/provider.ts: the native binding on the
 * server, WebAssembly in the SDK), not node:crypto: it is faster here and needs no KeyObject per
 * key (every mapping brings a new holder key), and it is the stricter verifier: besides S >= L
 * (which OpenSSL refuses too) it refuses small-order and non-canonical public keys and R points,
 * which RFC 8032 §5.1.7 leaves to the implementation. Every record signature in the project goes
 * through here, so the SDK, the server and federation accept exactly the same set.
 */
export function verifyInput(input: Uint8Array, sig: string, publicKey: string): boolean {
  // 64 bytes in 86 base64url characters, the last one with its 4 spare bits zero: one spelling only.
  if (typeof sig !== 'string' || !/^[A-Za-z0-9_-]{85}[AQgw]$/.test(sig)) return false;
  return verifyEd25519(input, fromB64u(sig, 'sig', 64), publicKey);
}

/** The raw check behind verifyInput, also for HTTP message signatures: false for any bad input. */
export function verifyEd25519(message: Uint8Array, signature: Uint8Array, publicKey: string): boolean {
  if (signature.length !== 64) return false;
  let key: Uint8Array;
  try {
    key = fromB64u(publicKey, 'key', 32);
  } catch {
    return false;
  }
  return cryptoProvider().verifyEd25519(signature, message, key);
}

/** SHA-256 of the canonical JSON of `value`, base64url: ids and digests of records. */
export function digest(value: unknown): string {
  return toB64u(cryptoProvider().sha256(canonicalize(value)));
}

export function sha256(data: string | Uint8Array): Uint8Array {
  return cryptoProvider().sha256(data);
}
