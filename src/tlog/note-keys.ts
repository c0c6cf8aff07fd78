/**
 * C2SP signed-note (https://c2sp.org/signed-note) Ed25519 keys: key IDs, vkey and skey strings,
 * and the text checks that notes (note.ts) and checkpoints (checkpoint.ts) share. The public
 * surface is checkpoint.ts.
 *
 * Parsers are strict and throw only {@link TlogError} for bad text; passing
 * values of the wrong type, or unusable key objects, is API misuse and raises
 * `TypeError`/`RangeError`.
 */

import type { KeyObject } from 'node:crypto';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { TlogError } from './errors.js';

/** Signature type identifier byte for Ed25519 (signed-note "Signature types"). */
export const ED25519_SIGNATURE_TYPE = 0x01;

export const EM_DASH_PREFIX = '\u2014 ';
export const ED25519_SIG_SIZE = 64;
export const ED25519_KEY_SIZE = 32;
// PKCS#8 DER prefix for an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** An Ed25519 note signing key. */
export interface NoteSigner {
  readonly name: string;
  readonly privateKey: KeyObject;
}

/** An Ed25519 note verification key. */
export interface NoteVerifier {
  readonly name: string;
  readonly publicKey: KeyObject;
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
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) return undefined;
  return Uint8Array.from(buf);
}

export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
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

export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  if (
    typeof key !== 'object' ||
    key === null ||
    key.type !== 'public' ||
    key.asymmetricKeyType !== 'ed25519'
  ) {
    throw new TypeError('publicKey must be an Ed25519 public KeyObject');
  }
  const jwk = key.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x ?? '', 'base64url');
  if (raw.length !== ED25519_KEY_SIZE) throw new TypeError('unexpected Ed25519 public key length');
  return Uint8Array.from(raw);
}

export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

export function keyIdFromRaw(name: string, rawPublicKey: Uint8Array): number {
  // signed-note "Ed25519 signatures": SHA-256(name || 0x0A || 0x01 || pubkey)[:4].
  const digest = createHash('sha256')
    .update(utf8(name))
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(rawPublicKey)
    .digest();
  return digest.readUInt32BE(0);
}

export function keyIdBytes(keyId: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(keyId, 0);
  return Uint8Array.from(b);
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

export function privateKeyToSigner(signer: NoteSigner): { name: string; keyId: number; key: KeyObject } {
  if (typeof signer !== 'object' || signer === null) throw new TypeError('signer must be an object');
  assertSignerName(signer.name);
  const key = signer.privateKey;
  if (
    typeof key !== 'object' ||
    key === null ||
    key.type !== 'private' ||
    key.asymmetricKeyType !== 'ed25519'
  ) {
    throw new TypeError('privateKey must be an Ed25519 private KeyObject');
  }
  const raw = rawEd25519PublicKey(createPublicKey(key));
  return { name: signer.name, keyId: keyIdFromRaw(signer.name, raw), key };
}

/**
 * Key ID of an Ed25519 note key: the big-endian uint32 of the first four
 * bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key).
 */
export function noteKeyId(name: string, publicKey: KeyObject): number {
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
  let publicKey: KeyObject;
  try {
    publicKey = ed25519PublicKeyFromRaw(raw);
  } catch (err) {
    throw new TlogError('tlog-key-malformed', 'malformed verifier key: unusable Ed25519 key', { cause: err });
  }
  return { name, keyId, publicKey };
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
  const keyId = keyIdFromRaw(name, rawEd25519PublicKey(createPublicKey(privateKey)));
  if (keyId !== Number.parseInt(idHex, 16)) throw bad('key ID does not match name and key');
  return { name, keyId, privateKey };
}

/** Builds an Ed25519 private KeyObject from a 32-byte RFC 8032 seed. */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_SIZE) {
    throw new TypeError('Ed25519 seed must be a 32-byte Uint8Array');
  }
  const der = new Uint8Array(ED25519_PKCS8_PREFIX.length + seed.length);
  der.set(ED25519_PKCS8_PREFIX, 0);
  der.set(seed, ED25519_PKCS8_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}
