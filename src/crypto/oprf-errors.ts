/**
 * Errors raised by the RFC 9497 OPRF implementation.
 *
 * Rule of thumb used across `oprf-*.ts`: bad bytes coming from the peer (or from
 * the caller's untrusted input) raise {@link OprfError} with a stable `code`;
 * programming mistakes (wrong argument type, wrong seed length, mismatched batch
 * arrays supplied by the caller itself) raise `TypeError`.
 */
import { MimiError, OprfErrorCode } from '../protocol/errors.js';

/** The OPRF codes: wire codes, so an OprfError goes on the wire as it is (src/protocol/errors.ts). */
export { OprfErrorCode };

/** The list of every {@link OprfErrorCode}, for exhaustive tests and wire mapping. */
export const OPRF_ERROR_CODES: readonly OprfErrorCode[] = Object.freeze(Object.values(OprfErrorCode));

/** Error raised for malformed or malicious OPRF protocol data. */
export class OprfError extends MimiError {
  declare readonly code: OprfErrorCode;
  /** Position of the offending element in a batch, when the error concerns one element. */
  readonly index: number | undefined;

  /**
   * @param code - stable error code
   * @param message - human-readable detail (never includes secret material)
   * @param index - offending batch position, if any; the problem document's `index`
   */
  constructor(code: OprfErrorCode, message: string, index?: number) {
    super(code, message, index === undefined ? undefined : { index });
    this.index = index;
  }
}

/**
 * Type guard for {@link OprfError}.
 *
 * @param err - any thrown value
 * @returns whether `err` is an OprfError
 */
export function isOprfError(err: unknown): err is OprfError {
  return err instanceof OprfError;
}
