/**
 * Stable error codes raised by the transparency-log core.
 *
 * - `tlog-proof-invalid`: an inclusion or consistency proof (or its inputs) did not verify.
 * - `tlog-bad-range`: a proof or subtree was requested for indices/sizes outside the tree.
 * - `tlog-state-invalid`: persisted accumulator state is structurally inconsistent.
 * - `tlog-checkpoint-malformed`: checkpoint text violates C2SP tlog-checkpoint.
 * - `tlog-origin-mismatch`: a checkpoint is well formed but for a different log origin.
 * - `tlog-note-malformed`: signed-note text violates C2SP signed-note.
 * - `tlog-note-unverified`: a note carries no signature from any known key.
 * - `tlog-signature-invalid`: a signature from a known key failed to verify.
 * - `tlog-key-malformed`: a verifier/signer key string could not be parsed.
 */
export type TlogErrorCode =
  | 'tlog-proof-invalid'
  | 'tlog-bad-range'
  | 'tlog-state-invalid'
  | 'tlog-checkpoint-malformed'
  | 'tlog-origin-mismatch'
  | 'tlog-note-malformed'
  | 'tlog-note-unverified'
  | 'tlog-signature-invalid'
  | 'tlog-key-malformed';

/** Error thrown for any bad (untrusted) input to the transparency-log core. */
export class TlogError extends Error {
  /** Stable machine-readable code; safe to switch on. */
  readonly code: TlogErrorCode;

  constructor(code: TlogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlogError';
    this.code = code;
  }
}

/**
 * Type guard: `true` if `err` is a {@link TlogError}, optionally with the given code.
 */
export function isTlogError(err: unknown, code?: TlogErrorCode): err is TlogError {
  return err instanceof TlogError && (code === undefined || err.code === code);
}
