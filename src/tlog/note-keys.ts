/**
 * C2SP signed-note (https://c2sp.org/signed-note) Ed25519 keys: key IDs, vkey and skey strings,
 * and the text checks that notes (note.ts) and checkpoints (checkpoint.ts) share. The public
 * surface is checkpoint.ts.
 *
 * Parsers are strict and throw only {@link TlogError} for bad text; passing
 * values of the wrong type, or unusable key objects, is API misuse and raises
 * `TypeError`/`RangeError`.
 */

import { SigningKey } from '../crypto/keys.js';
import { cryptoProvider } from '../crypto/provider.js';
import { decodeBase64, fromB64u, toBase64 } from '../protocol/encoding.js';
import { TlogError } from './errors.js';

/** Signature type identifier byte for Ed25519 (signed-note "Signature types"). */
export const ED25519_SIGNATURE_TYPE = 0x01;

export const EM_DASH_PREFIX = '\u2014 ';
export const ED25519_SIG_SIZE = 64;
export const ED25519_KEY_SIZE = 32;

/** An Ed25519 note signing key. */
export interface NoteSigner {
  readonly name: string;
  readonly privateKey: SigningKey;
}

/** An Ed25519 note verification key: its 32 raw bytes. */
export interface NoteVerifier {
  readonly name: string;
  readonly publicKey: Uint8Array;
}

/** A verifier parsed from a vkey string, with its key ID. */
export interface ParsedVerifierKey extends NoteVerifier {
  readonly keyId: number;
}

export const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// UTF-16 lone surrogates: such a string has no valid UTF-8 encoding.
export const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export const UNICODE_SPACE_RE = /[\s\u0085]/u;
export const DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/;

/** Strict RFC 4648 §4 base64: padded, standard alphabet, canonical (zero) pad bits. */
export function decodeBase64Strict(s: string): Uint8Array | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const bytes = decodeBase64(s);
  if (toBase64(bytes) !== s) return undefined;
  return bytes;
}

export function encodeBase64(b: Uint8Array): string {
  return toBase64(b);
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
}

/** signed-note "Format": valid UTF-8 and no ASCII control characters but newline. */
export function hasForbiddenChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return LONE_SURROGATE_RE.test(s);
}

/** signed-note "Format": key names are non-empty, with no Unicode spaces or '+'. */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('+') &&
    !UNICODE_SPACE_RE.test(name) &&
    !hasForbiddenChars(name) &&
    !name.includes('\n')
  );
}

export function assertSignerName(name: unknown): asserts name is string {
  assertString(name, 'key name');
  if (!isValidKeyName(name)) throw new TypeError(`invalid note key name ${JSON.stringify(name)}`);
}

/** The key itself, checked to be 32 bytes: API misuse (TypeError) otherwise. */
export function rawEd25519PublicKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== ED25519_KEY_SIZE) {
    throw new TypeError('publicKey must be the 32 bytes of an Ed25519 public key');
  }
  return key;
}

/** The raw public key of a signing key. */
export function publicKeyOfSigner(key: SigningKey): Uint8Array {
  if (!(key instanceof SigningKey)) throw new TypeError('privateKey must be an Ed25519 SigningKey');
  return fromB64u(key.publicKey, 'publicKey', ED25519_KEY_SIZE);
}

/** The big-endian uint32 of the first four bytes. */
export function readU32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
}

export function keyIdFromRaw(name: string, rawPublicKey: Uint8Array): number {
  // signed-note "Ed25519 signatures": SHA-256(name || 0x0A || 0x01 || pubkey)[:4].
  return readU32(
    cryptoProvider().sha256(utf8(name), Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE), rawPublicKey),
  );
}

export function keyIdBytes(keyId: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, keyId);
  return b;
}

export function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

export function formatSignatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const blob = new Uint8Array(4 + signature.length);
  blob.set(keyIdBytes(keyId), 0);
  blob.set(signature, 4);
  return `${EM_DASH_PREFIX}${name} ${encodeBase64(blob)}\n`;
}

export function privateKeyToSigner(signer: NoteSigner): { name: string; keyId: number; key: SigningKey } {
  if (typeof signer !== 'object' || signer === null) throw new TypeError('signer must be an object');
  assertSignerName(signer.name);
  const raw = publicKeyOfSigner(signer.privateKey);
  return { name: signer.name, keyId: keyIdFromRaw(signer.name, raw), key: signer.privateKey };
}

/**
 * Key ID of an Ed25519 note key: the big-endian uint32 of the first four
 * bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key).
 */
export function noteKeyId(name: string, publicKey: Uint8Array): number {
  assertSignerName(name);
  return keyIdFromRaw(name, rawEd25519PublicKey(publicKey));
}

/** Formats a verifier key string `<name>+<hex key ID>+<base64(0x01 || pubkey)>`. */
export function formatVerifierKey(verifier: NoteVerifier): string {
  assertSignerName(verifier.name);
  const raw = rawEd25519PublicKey(verifier.publicKey);
  const blob = new Uint8Array(1 + raw.length);
  blob[0] = ED25519_SIGNATURE_TYPE;
  blob.set(raw, 1);
  return `${verifier.name}+${hex8(keyIdFromRaw(verifier.name, raw))}+${encodeBase64(blob)}`;
}

/**
 * Parses a verifier key string (signed-note "Verifier keys"), as used by the
 * Go sumdb: `<name>+<8 lowercase hex key ID>+<base64(0x01 || 32-byte key)>`.
 * The key ID must match the one computed from the name and key.
 *
 * @throws {TlogError} `tlog-key-malformed`.
 */
export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  assertString(vkey, 'vkey');
  const bad = (why: string) => new TlogError('tlog-key-malformed', `malformed verifier key: ${why}`);
  const i = vkey.indexOf('+');
  const j = i < 0 ? -1 : vkey.indexOf('+', i + 1);
  if (i < 0 || j < 0) throw bad('expected name+keyid+key');
  const name = vkey.slice(0, i);
  const idHex = vkey.slice(i + 1, j);
  const keyB64 = vkey.slice(j + 1);
  if (!isValidKeyName(name)) throw bad('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw bad('key ID must be 8 lowercase hex digits');
  const blob = decodeBase64Strict(keyB64);
  if (blob === undefined) throw bad('key is not valid base64');
  if (blob.length === 0 || blob[0] !== ED25519_SIGNATURE_TYPE) throw bad('unsupported signature type');
  const raw = blob.subarray(1);
  if (raw.length !== ED25519_KEY_SIZE) throw bad('Ed25519 key must be 32 bytes');
  const keyId = Number.parseInt(idHex, 16);
  if (keyIdFromRaw(name, raw) !== keyId) throw bad('key ID does not match name and key');
  return { name, keyId, publicKey: Uint8Array.from(raw) };
}

/**
 * Parses a Go sumdb signer key `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`.
 *
 * @throws {TlogError} `tlog-key-malformed`.
 */
export function parseSignerKey(skey: string): NoteSigner & { readonly keyId: number } {
  assertString(skey, 'skey');
  const bad = (why: string) => new TlogError('tlog-key-malformed', `malformed signer key: ${why}`);
  const prefix = 'PRIVATE+KEY+';
  if (!skey.startsWith(prefix)) throw bad('missing PRIVATE+KEY+ prefix');
  const rest = skey.slice(prefix.length);
  const i = rest.indexOf('+');
  const j = i < 0 ? -1 : rest.indexOf('+', i + 1);
  if (i < 0 || j < 0) throw bad('expected name+keyid+key');
  const name = rest.slice(0, i);
  const idHex = rest.slice(i + 1, j);
  if (!isValidKeyName(name)) throw bad('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw bad('key ID must be 8 lowercase hex digits');
  const blob = decodeBase64Strict(rest.slice(j + 1));
  if (blob === undefined) throw bad('key is not valid base64');
  if (blob.length !== 1 + ED25519_KEY_SIZE || blob[0] !== ED25519_SIGNATURE_TYPE) {
    throw bad('expected 0x01 || 32-byte Ed25519 seed');
  }
  const privateKey = ed25519PrivateKeyFromSeed(blob.subarray(1));
  const keyId = keyIdFromRaw(name, publicKeyOfSigner(privateKey));
  if (keyId !== Number.parseInt(idHex, 16)) throw bad('key ID does not match name and key');
  return { name, keyId, privateKey };
}

/** The Ed25519 signing key of a 32-byte RFC 8032 seed. */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): SigningKey {
  return SigningKey.fromSeed(seed);
}
