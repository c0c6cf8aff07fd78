/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys: parse, sign, add a
 * signature, open against known keys. The public surface is checkpoint.ts.
 *
 * Parsers are strict and throw only {@link TlogError} for bad text; passing
 * values of the wrong type, or unusable key objects, is API misuse and raises
 * `TypeError`/`RangeError`.
 */

import { cryptoProvider } from '../crypto/provider.js';
import { TlogError } from './errors.js';
import {
  assertSignerName,
  assertString,
  decodeBase64Strict,
  ED25519_SIG_SIZE,
  EM_DASH_PREFIX,
  formatSignatureLine,
  hasForbiddenChars,
  hex8,
  isValidKeyName,
  keyIdFromRaw,
  type NoteSigner,
  type NoteVerifier,
  privateKeyToSigner,
  rawEd25519PublicKey,
  readU32,
  utf8,
} from './note-keys.js';

/** Most signature lines accepted in one note (C2SP requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

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

export function malformedNote(message: string): TlogError {
  return new TlogError('tlog-note-malformed', message);
}

/** Validates note text (the signed body) per signed-note "Format". */
export function checkNoteBody(body: string): void {
  if (!body.endsWith('\n')) throw malformedNote('note text must end with a newline');
  if (hasForbiddenChars(body)) throw malformedNote('note text contains control characters or invalid UTF-16');
}

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
    const keyId = readU32(blob);
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
  const signature = s.key.sign(utf8(body));
  return `${body}\n${formatSignatureLine(s.name, s.keyId, signature)}`;
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
  const signature = s.key.sign(utf8(parsed.body));
  return `${parsed.body}\n${kept}${formatSignatureLine(s.name, s.keyId, signature)}`;
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
  const known = new Map<string, Uint8Array>();
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
    const ok =
      sig.signature.length === ED25519_SIG_SIZE &&
      cryptoProvider().verifyEd25519(sig.signature, message, key);
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
