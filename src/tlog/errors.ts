import { MimiError, TlogErrorCode } from '../protocol/errors.js';

/** The transparency-log core's codes (src/protocol/errors.ts holds every code). */
export { TlogErrorCode };

/** Error thrown for any bad (untrusted) input to the transparency-log core. */
export class TlogError extends MimiError {
  declare readonly code: TlogErrorCode;

  constructor(code: TlogErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, undefined, options);
  }
}

/**
 * Type guard: `true` if `err` is a {@link TlogError}, optionally with the given code.
 */
export function isTlogError(err: unknown, code?: TlogErrorCode): err is TlogError {
  return err instanceof TlogError && (code === undefined || err.code === code);
}
