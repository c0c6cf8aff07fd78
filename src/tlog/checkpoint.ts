/**
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint), carried in C2SP signed
 * notes (https://c2sp.org/signed-note) with Ed25519 keys. This module is the public surface of
 * both: notes are in note.ts, their keys in note-keys.ts.
 *
 * Parsers are strict and throw only {@link TlogError} for bad text; passing
 * values of the wrong type, or unusable key objects, is API misuse and raises
 * `TypeError`/`RangeError`.
 */

import { TlogError } from './errors.js';
import { openNote, signNote } from './note.js';
import {
  assertString,
  DECIMAL_RE,
  decodeBase64Strict,
  encodeBase64,
  hasForbiddenChars,
  type NoteSigner,
  type NoteVerifier,
} from './note-keys.js';
import { HASH_SIZE } from './tree-hash.js';

export type { NoteSignature, OpenedNote, ParsedNote } from './note.js';
export { addSignature, MAX_NOTE_SIGNATURES, openNote, parseNote, signNote } from './note.js';
export type { NoteSigner, NoteVerifier, ParsedVerifierKey } from './note-keys.js';
export {
  ED25519_SIGNATURE_TYPE,
  ed25519PrivateKeyFromSeed,
  formatVerifierKey,
  noteKeyId,
  parseSignerKey,
  parseVerifierKey,
} from './note-keys.js';

/**
 * A checkpoint (signed tree head) as carried in a note body.
 *
 * @example
 * const { checkpoint } = openDpCheckpoint(note, { dp: 'dp1', registry });
 * console.log(checkpoint.size);
 */
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

/** Result of {@link openCheckpoint}. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly verifiedBy: readonly string[];
}

function malformedCheckpoint(message: string): TlogError {
  return new TlogError('tlog-checkpoint-malformed', message);
}

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
