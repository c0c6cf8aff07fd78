/**
 * Errors raised by the RFC 9497 OPRF implementation.
 *
 * Rule of thumb used across `oprf-*.ts`: bad bytes coming from the peer (or from
 * the caller's untrusted input) raise {@link OprfError} with a stable `code`;
 * programming mistakes (wrong argument type, wrong seed length, mismatched batch
 * arrays supplied by the caller itself) raise `TypeError`.
 */

/** Stable machine-readable error codes. */
export type OprfErrorCode =
  /** Not a valid ristretto255 encoding (wrong length, non-canonical, off-curve); RFC 9497 §2.1 DeserializeElement. */
  | 'oprf-invalid-element'
  /** The identity element was received; RFC 9497 §2.1 DeserializeElement and §3.3.1. */
  | 'oprf-identity-element'
  /** The PRF input is unusable: too long for I2OSP(len, 2), or it hashes to the identity (RFC 9497 §3.3.1 InvalidInputError). */
  | 'oprf-invalid-input'
  /** A scalar is zero or not canonical (>= group order); RFC 9497 §2.1 DeserializeScalar, §3.2.1 DeriveKeyPairError. */
  | 'oprf-invalid-scalar'
  /** More elements in one batch than the configured limit. */
  | 'oprf-batch-too-large'
  /** An evaluation's DLEQ proof is malformed or does not verify against the key (RFC 9497 §2.2.2, §3.3.2). */
  | 'oprf-proof-invalid';

/** The list of every {@link OprfErrorCode}, for exhaustive tests and wire mapping. */
export const OPRF_ERROR_CODES: readonly OprfErrorCode[] = Object.freeze([
  'oprf-invalid-element',
  'oprf-identity-element',
  'oprf-invalid-input',
  'oprf-invalid-scalar',
  'oprf-batch-too-large',
  'oprf-proof-invalid',
]);

/** Error raised for malformed or malicious OPRF protocol data. */
export class OprfError extends Error {
  /** Stable code; safe to map onto protocol error responses. */
  readonly code: OprfErrorCode;
  /** Position of the offending element in a batch, when the error concerns one element. */
  readonly index: number | undefined;

  /**
   * @param code - stable error code
   * @param message - human-readable detail (never includes secret material)
   * @param index - offending batch position, if any
   */
  constructor(code: OprfErrorCode, message: string, index?: number) {
    super(message);
    this.name = 'OprfError';
    this.code = code;
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
