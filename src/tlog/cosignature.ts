/**
 * C2SP tlog-cosignature/v1 with Ed25519 (https://c2sp.org/tlog-cosignature): a witness's
 * statement that, as of a time, the checkpoint is the largest consistent tree head it has seen
 * for the log. A cosignature is one more signature line of the checkpoint's signed note:
 *
 *   — <witness name> base64(key ID || u64 timestamp || Ed25519 signature)
 *
 * with key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], over the message
 * "cosignature/v1\ntime <timestamp>\n" || checkpoint body.
 */
import { cryptoProvider } from '../crypto/provider.js';
import { toBase64, utf8 } from '../protocol/encoding.js';
import type { NoteSigner, NoteVerifier } from './checkpoint.js';
import { parseNote } from './checkpoint.js';
import { TlogError } from './errors.js';
import { publicKeyOfSigner, rawEd25519PublicKey, readU32 } from './note-keys.js';

/** Signature type byte of Ed25519 cosignatures (tlog-cosignature "Format"). */
export const COSIGNATURE_V1_TYPE = 0x04;

const EM_DASH_PREFIX = '\u2014 ';

/** One verified cosignature. */
export interface Cosignature {
  readonly name: string;
  /** POSIX seconds at which the witness cosigned. */
  readonly timestamp: number;
}

/** tlog-cosignature key ID: SHA-256(name || "\n" || 0x04 || 32-byte public key)[:4], big-endian. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): number {
  return readU32(
    cryptoProvider().sha256(name, Uint8Array.of(0x0a, COSIGNATURE_V1_TYPE), rawEd25519PublicKey(publicKey)),
  );
}

/** The signed message: the two header lines, then the whole checkpoint body. */
function cosignedMessage(body: string, timestamp: number): Uint8Array {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

/**
 * Adds (or replaces) `signer`'s cosignature on a signed checkpoint note and returns the note.
 * Existing lines are kept; none is verified here (open the note first).
 *
 * @throws {TlogError} `tlog-note-malformed` for bad note text.
 */
export function cosignNote(noteText: string, signer: NoteSigner, timestamp: number): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0)
    throw new RangeError('timestamp must be POSIX seconds');
  const parsed = parseNote(noteText);
  const keyId = cosignatureKeyId(signer.name, publicKeyOfSigner(signer.privateKey));
  const signature = signer.privateKey.sign(cosignedMessage(parsed.body, timestamp));
  const blob = new Uint8Array(4 + 8 + signature.length);
  const view = new DataView(blob.buffer);
  view.setUint32(0, keyId);
  view.setBigUint64(4, BigInt(timestamp));
  blob.set(signature, 12);
  const line = `${EM_DASH_PREFIX}${signer.name} ${toBase64(blob)}\n`;
  // A previous cosignature by the same witness key is replaced, every other line kept.
  const kept = signatureLines(noteText)
    .filter((l) => {
      const sig = parseNote(`${parsed.body}\n${l}`).signatures[0];
      return !(sig !== undefined && sig.name === signer.name && sig.keyId === keyId);
    })
    .join('');
  return `${parsed.body}\n${kept}${line}`;
}

/**
 * Verifies the cosignatures on a note from the given cosigners (name + Ed25519 key). Lines from
 * other keys are ignored, as signed-note requires; a line from a known cosigner that fails to
 * verify rejects the note. Returns one entry per distinct cosigner that verified.
 *
 * @throws {TlogError} `tlog-note-malformed`, or `tlog-signature-invalid` for a bad cosignature.
 */
export function verifyCosignatures(noteText: string, cosigners: readonly NoteVerifier[]): Cosignature[] {
  const parsed = parseNote(noteText);
  const known = new Map<string, NoteVerifier>();
  for (const c of cosigners) known.set(`${c.name}+${cosignatureKeyId(c.name, c.publicKey)}`, c);
  const out = new Map<string, Cosignature>();
  for (const sig of parsed.signatures) {
    const c = known.get(`${sig.name}+${sig.keyId}`);
    if (c === undefined) continue;
    // timestamped_signature: u64 timestamp || 64-byte Ed25519 signature.
    if (sig.signature.length !== 8 + 64) {
      throw new TlogError('tlog-signature-invalid', `cosignature by ${sig.name} has the wrong length`);
    }
    const b = sig.signature;
    const ts = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0);
    if (ts > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TlogError('tlog-signature-invalid', `cosignature by ${sig.name} has an impossible time`);
    }
    const timestamp = Number(ts);
    if (
      !cryptoProvider().verifyEd25519(b.subarray(8), cosignedMessage(parsed.body, timestamp), c.publicKey)
    ) {
      throw new TlogError('tlog-signature-invalid', `cosignature by ${sig.name} does not verify`);
    }
    if (!out.has(sig.name)) out.set(sig.name, { name: sig.name, timestamp });
  }
  return [...out.values()];
}

/** The signature lines of a note (with their trailing newline), for splicing. */
export function signatureLines(noteText: string): string[] {
  const parsed = parseNote(noteText);
  return noteText
    .slice(parsed.body.length + 1)
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => `${l}\n`);
}
