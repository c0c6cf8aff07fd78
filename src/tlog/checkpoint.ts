/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint).
 *
 * Parsers are strict and throw only {@link TlogError} for bad text; passing
 * values of the wrong type, or unusable key objects, is API misuse and raises
 * `TypeError`/`RangeError`.
 */

import type { KeyObject } from 'node:crypto';
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { TlogError } from './errors.js';
import { HASH_SIZE } from './merkle.js';

/** Signature type identifier byte for Ed25519 (signed-note "Signature types"). */
export const ED25519_SIGNATURE_TYPE = 0x01;

/** Most signature lines accepted in one note (C2SP requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

const EM_DASH_PREFIX = '\u2014 ';
const ED25519_SIG_SIZE = 64;
const ED25519_KEY_SIZE = 32;
// PKCS#8 DER prefix for an Ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** A checkpoint (signed tree head) as carried in a note body. */
export interface Checkpoint {
  /** Log identity, first line. */
  readonly origin: string;
  /** Number of leaves in the tree. */
  readonly size: number;
  /** RFC 6962 / RFC 9162 Merkle tree hash at `size`. */
  readonly rootHash: Uint8Array;
  /** Opaque non-empty extension lines (without newlines); usually empty. */
  readonly extensions: readonly string[];
}

/** Input to {@link formatCheckpoint}. */
export interface CheckpointInput {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

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

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  /** 32-bit key ID (big-endian first four bytes of the decoded signature). */
  readonly keyId: number;
  /** Signature bytes after the key ID. */
  readonly signature: Uint8Array;
}

/** A structurally parsed, unverified note. */
export interface ParsedNote {
  /** Note text, including its final newline, excluding the blank separator line. */
  readonly body: string;
  readonly signatures: readonly NoteSignature[];
}

/** Result of {@link openNote}. */
export interface OpenedNote {
  readonly body: string;
  /** Names of known keys whose signatures verified (deduplicated, in note order). */
  readonly verifiedBy: readonly string[];
  /** Signatures from keys not in the verifier list (ignored, per signed-note). */
  readonly unknown: readonly NoteSignature[];
}

/** Result of {@link openCheckpoint}. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly verifiedBy: readonly string[];
}

// ---------------------------------------------------------------------------
// Helpers

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// UTF-16 lone surrogates: such a string has no valid UTF-8 encoding.
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNICODE_SPACE_RE = /[\s\u0085]/u;
const DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/;

/** Strict RFC 4648 §4 base64: padded, standard alphabet, canonical (zero) pad bits. */
function decodeBase64Strict(s: string): Uint8Array | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) return undefined;
  return Uint8Array.from(buf);
}

function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
}

/** signed-note "Format": valid UTF-8 and no ASCII control characters but newline. */
function hasForbiddenChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return LONE_SURROGATE_RE.test(s);
}

/** signed-note "Format": key names are non-empty, with no Unicode spaces or '+'. */
function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('+') &&
    !UNICODE_SPACE_RE.test(name) &&
    !hasForbiddenChars(name) &&
    !name.includes('\n')
  );
}

function assertSignerName(name: unknown): asserts name is string {
  assertString(name, 'key name');
  if (!isValidKeyName(name)) throw new TypeError(`invalid note key name ${JSON.stringify(name)}`);
}

function rawEd25519PublicKey(key: KeyObject): Uint8Array {
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

function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

function keyIdFromRaw(name: string, rawPublicKey: Uint8Array): number {
  // signed-note "Ed25519 signatures": SHA-256(name || 0x0A || 0x01 || pubkey)[:4].
  const digest = createHash('sha256')
    .update(utf8(name))
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(rawPublicKey)
    .digest();
  return digest.readUInt32BE(0);
}

function keyIdBytes(keyId: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(keyId, 0);
  return Uint8Array.from(b);
}

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function formatSignatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const blob = new Uint8Array(4 + signature.length);
  blob.set(keyIdBytes(keyId), 0);
  blob.set(signature, 4);
  return `${EM_DASH_PREFIX}${name} ${encodeBase64(blob)}\n`;
}

function malformedNote(message: string): TlogError {
  return new TlogError('tlog-note-malformed', message);
}

function malformedCheckpoint(message: string): TlogError {
  return new TlogError('tlog-checkpoint-malformed', message);
}

/** Validates note text (the signed body) per signed-note "Format". */
function checkNoteBody(body: string): void {
  if (!body.endsWith('\n')) throw malformedNote('note text must end with a newline');
  if (hasForbiddenChars(body)) throw malformedNote('note text contains control characters or invalid UTF-16');
}

function privateKeyToSigner(signer: NoteSigner): { name: string; keyId: number; key: KeyObject } {
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

// ---------------------------------------------------------------------------
// Keys

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

// ---------------------------------------------------------------------------
// Signed notes

/**
 * Parses the structure of a signed note without verifying anything:
 * text ending in newline, a blank line, then one or more lines
 * `— <key name> <base64(key ID || signature)>` (signed-note "Format").
 *
 * @throws {TlogError} `tlog-note-malformed`.
 */
export function parseNote(noteText: string): ParsedNote {
  assertString(noteText, 'note');
  // signed-note "Format": valid UTF-8, no control characters other than newline.
  if (hasForbiddenChars(noteText)) throw malformedNote('note contains control characters or invalid UTF-16');
  // The text is separated from the signatures by the last empty line.
  const split = noteText.lastIndexOf('\n\n');
  if (split < 0) throw malformedNote('note has no signature block');
  const body = noteText.slice(0, split + 1);
  const sigBlock = noteText.slice(split + 2);
  if (sigBlock.length === 0 || !sigBlock.endsWith('\n')) {
    throw malformedNote('signature block must be non-empty and end with a newline');
  }
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformedNote(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(EM_DASH_PREFIX))
      throw malformedNote('signature line must start with an em dash and space');
    const rest = line.slice(EM_DASH_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw malformedNote('signature line must be "— <name> <base64>"');
    const name = rest.slice(0, sp);
    if (!isValidKeyName(name)) throw malformedNote(`invalid key name in signature line`);
    const blob = decodeBase64Strict(rest.slice(sp + 1));
    // 4-byte key ID plus at least one byte of signature.
    if (blob === undefined || blob.length < 5)
      throw malformedNote('signature is not valid base64 of key ID || sig');
    const keyId = Buffer.from(blob.buffer, blob.byteOffset, 4).readUInt32BE(0);
    signatures.push({ name, keyId, signature: blob.slice(4) });
  }
  return { body, signatures };
}

/**
 * Signs note text (which must end in a newline) with an Ed25519 key and
 * returns the signed note: body, blank line, one signature line.
 *
 * @throws {TlogError} `tlog-note-malformed` if `body` is not valid note text.
 */
export function signNote(body: string, signer: NoteSigner): string {
  assertString(body, 'body');
  checkNoteBody(body);
  const s = privateKeyToSigner(signer);
  const signature = sign(null, utf8(body), s.key);
  return `${body}\n${formatSignatureLine(s.name, s.keyId, Uint8Array.from(signature))}`;
}

/**
 * Adds a (co)signature from `signer` to an existing signed note. Existing
 * signature lines are kept in order (a previous line from the same name and
 * key ID is replaced) and the new line is appended. Existing signatures are
 * not verified: open the note first if that matters.
 *
 * @throws {TlogError} `tlog-note-malformed`.
 */
export function addSignature(noteText: string, signer: NoteSigner): string {
  const parsed = parseNote(noteText);
  const s = privateKeyToSigner(signer);
  const kept = parsed.signatures
    .filter((sig) => !(sig.name === s.name && sig.keyId === s.keyId))
    .map((sig) => formatSignatureLine(sig.name, sig.keyId, sig.signature))
    .join('');
  const signature = sign(null, utf8(parsed.body), s.key);
  return `${parsed.body}\n${kept}${formatSignatureLine(s.name, s.keyId, Uint8Array.from(signature))}`;
}

/**
 * Opens a signed note: parses it and verifies every signature whose key name
 * and key ID both match a known verifier (signed-note "Signatures").
 * Signatures from unknown keys are ignored.
 *
 * @throws {TlogError} `tlog-note-malformed` for bad syntax,
 *   `tlog-signature-invalid` if a known key's signature fails to verify,
 *   `tlog-note-unverified` if no known key signed the note.
 * @throws {TypeError} if two verifiers share a name and key ID, or a key is not Ed25519.
 */
export function openNote(noteText: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  if (!Array.isArray(verifiers)) throw new TypeError('verifiers must be an array');
  const known = new Map<string, KeyObject>();
  for (const v of verifiers) {
    if (typeof v !== 'object' || v === null) throw new TypeError('verifier must be an object');
    assertSignerName(v.name);
    const id = keyIdFromRaw(v.name, rawEd25519PublicKey(v.publicKey));
    const mapKey = `${v.name}+${hex8(id)}`;
    if (known.has(mapKey)) throw new TypeError(`ambiguous verifiers: ${mapKey} given twice`);
    known.set(mapKey, v.publicKey);
  }
  const parsed = parseNote(noteText);
  const message = utf8(parsed.body);
  const verifiedBy: string[] = [];
  const unknown: NoteSignature[] = [];
  for (const sig of parsed.signatures) {
    const key = known.get(`${sig.name}+${hex8(sig.keyId)}`);
    if (key === undefined) {
      // Verifiers MUST ignore signatures from unknown keys.
      unknown.push(sig);
      continue;
    }
    // A failing signature from a known key rejects the whole note.
    const ok = sig.signature.length === ED25519_SIG_SIZE && verify(null, message, key, sig.signature);
    if (!ok) {
      throw new TlogError(
        'tlog-signature-invalid',
        `signature by ${sig.name} (${hex8(sig.keyId)}) does not verify`,
      );
    }
    if (!verifiedBy.includes(sig.name)) verifiedBy.push(sig.name);
  }
  // If no signature from a known key verifies, clients MUST reject the note.
  if (verifiedBy.length === 0)
    throw new TlogError('tlog-note-unverified', 'note has no signature from a known key');
  return { body: parsed.body, verifiedBy, unknown };
}

// ---------------------------------------------------------------------------
// Checkpoints

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw malformedCheckpoint(`${what} must be non-empty`);
  if (line.includes('\n') || hasForbiddenChars(line)) {
    throw malformedCheckpoint(`${what} must not contain newlines or control characters`);
  }
}

/**
 * Formats a checkpoint body (C2SP tlog-checkpoint "Note text"):
 * `<origin>\n<size>\n<base64 root>\n` followed by any extension lines.
 *
 * @throws {TlogError} `tlog-checkpoint-malformed` for an empty/multi-line
 *   origin or extension, or a root hash that is not 32 bytes.
 * @throws {RangeError} if `size` is not a non-negative safe integer.
 */
export function formatCheckpoint(cp: CheckpointInput): string {
  if (typeof cp !== 'object' || cp === null) throw new TypeError('checkpoint must be an object');
  assertString(cp.origin, 'origin');
  checkLine(cp.origin, 'origin');
  if (typeof cp.size !== 'number' || !Number.isSafeInteger(cp.size) || cp.size < 0) {
    throw new RangeError('size must be a non-negative safe integer');
  }
  if (!(cp.rootHash instanceof Uint8Array)) throw new TypeError('rootHash must be a Uint8Array');
  if (cp.rootHash.length !== HASH_SIZE) throw malformedCheckpoint(`root hash must be ${HASH_SIZE} bytes`);
  const extensions = cp.extensions ?? [];
  for (const ext of extensions) {
    assertString(ext, 'extension line');
    checkLine(ext, 'extension line');
  }
  const lines = [cp.origin, String(cp.size), encodeBase64(cp.rootHash), ...extensions];
  return `${lines.join('\n')}\n`;
}

/**
 * Strictly parses a checkpoint body (not a signed note; see {@link openCheckpoint}).
 * Rejects a missing trailing newline, empty lines, a size that is not canonical
 * decimal (no sign, no leading zeros) or exceeds 2^53 - 1, and a root hash
 * that is not canonical base64 of exactly 32 bytes.
 *
 * @throws {TlogError} `tlog-checkpoint-malformed`.
 */
export function parseCheckpoint(text: string): Checkpoint {
  assertString(text, 'checkpoint');
  if (!text.endsWith('\n')) throw malformedCheckpoint('checkpoint must end with a newline');
  if (hasForbiddenChars(text))
    throw malformedCheckpoint('checkpoint contains control characters or invalid UTF-16');
  const lines = text.slice(0, -1).split('\n');
  // At least three non-empty lines; extension lines, if any, MUST be non-empty.
  if (lines.length < 3) throw malformedCheckpoint('checkpoint needs origin, size and root hash lines');
  if (lines.some((l) => l.length === 0)) throw malformedCheckpoint('checkpoint lines must be non-empty');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  // Tree size: ASCII decimal with no leading zeroes.
  if (!DECIMAL_RE.test(sizeLine)) throw malformedCheckpoint('tree size must be canonical decimal');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformedCheckpoint('tree size exceeds 2^53 - 1');
  const rootHash = decodeBase64Strict(rootLine);
  if (rootHash === undefined) throw malformedCheckpoint('root hash is not valid base64');
  if (rootHash.length !== HASH_SIZE) throw malformedCheckpoint(`root hash must be ${HASH_SIZE} bytes`);
  return { origin, size, rootHash, extensions };
}

/** Formats `cp` and signs it as a note with `signer`. */
export function signCheckpoint(cp: CheckpointInput, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), signer);
}

/**
 * Opens a signed checkpoint: verifies the note with {@link openNote}, then
 * parses the body with {@link parseCheckpoint}. If `options.origin` is given
 * the checkpoint's origin must equal it.
 *
 * @throws {TlogError} any code from {@link openNote} / {@link parseCheckpoint},
 *   or `tlog-origin-mismatch`.
 */
export function openCheckpoint(
  noteText: string,
  verifiers: readonly NoteVerifier[],
  options: { readonly origin?: string } = {},
): OpenedCheckpoint {
  const opened = openNote(noteText, verifiers);
  const checkpoint = parseCheckpoint(opened.body);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new TlogError(
      'tlog-origin-mismatch',
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(options.origin)}`,
    );
  }
  return { checkpoint, verifiedBy: opened.verifiedBy };
}
