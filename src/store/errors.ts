import { MimiError } from '../protocol/errors.js';

/**
 * What a store backend throws, typed: every backend (SQLite, PostgreSQL, the residency router)
 * translates its driver's errors here, once, so callers test a class or a code and never a
 * driver's SQLSTATE or message. Each is a MimiError (STYLE.md §16) carrying the driver's error
 * as its `cause`.
 */
export class StoreError extends MimiError {
  constructor(
    code: MimiError['code'],
    message: string,
    opts: { cause?: unknown; extra?: Record<string, unknown> } = {},
  ) {
    super(code, message, opts.extra, opts.cause === undefined ? undefined : { cause: opts.cause });
  }
}

/**
 * The store (or one region's store, R27) is unreachable, or went away mid-write; retryable: the
 * request may be repeated as it is. `outcomeUnknown`: the connection died during COMMIT, so the
 * write may have landed (every write is idempotent by body digest or request id).
 */
export class StoreUnavailable extends StoreError {
  readonly outcomeUnknown: boolean;

  constructor(message: string, opts: { cause?: unknown; outcomeUnknown?: boolean } = {}) {
    super('store-unavailable', message, { cause: opts.cause, extra: { retryAfter: 1 } });
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
  }
}

/** A region's store lost its transaction between the routed write's commits (R27). */
export class RegionUnavailable extends StoreUnavailable {}

/** The store was closed: writes queued or started after close() are refused. */
export class StoreClosed extends StoreError {
  constructor() {
    super('internal', 'store is closed');
  }
}

/**
 * A transaction refused by another's row or lock: a unique index refused a row, two
 * transactions could not be ordered or waited for each other. `retryable`: the write lost a race
 * to another node and running it again settles it (PostgreSQL, see isRace); a SQLite writer is
 * alone, so there a unique violation is the write's own. Thrown to the caller only once the
 * backend has run out of attempts.
 */
export class WriteConflict extends StoreError {
  readonly kind: ConflictKind;
  /** The SQLSTATE or driver code that reported it. */
  readonly driverCode: string;
  readonly retryable: boolean;

  constructor(kind: ConflictKind, driverCode: string, opts: { cause: unknown; retryable: boolean }) {
    super('internal', `write conflict (${kind})`, { cause: opts.cause });
    this.kind = kind;
    this.driverCode = driverCode;
    this.retryable = opts.retryable;
  }
}

export const ConflictKind = {
  UniqueViolation: 'unique-violation',
  SerializationFailure: 'serialization-failure',
  Deadlock: 'deadlock',
} as const;
export type ConflictKind = (typeof ConflictKind)[keyof typeof ConflictKind];

/** A routed write that breaks a residency rule (R27): refused, never committed. */
export class ResidencyViolation extends StoreError {
  constructor(message: string) {
    super('internal', message);
  }
}

/**
 * Races a write may lose to another node's write, and win when run again: 40001
 * serialization_failure, 40P01 deadlock_detected (two writes locking the same CSIs in opposite
 * orders), 23505 unique_violation (a row the write looked for before it held the CSI's lock,
 * such as a mapping's body digest, was committed meanwhile; run again, the write sees it).
 */
const raceCodes: Readonly<Record<string, ConflictKind>> = {
  '40001': ConflictKind.SerializationFailure,
  '40P01': ConflictKind.Deadlock,
  '23505': ConflictKind.UniqueViolation,
};
/** better-sqlite3's codes for a row a unique index refused (never a race: one writer). */
const sqliteUniqueCodes = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

const codeOf = (err: unknown): unknown =>
  typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;

/** True when `err` is a race that running the write again may win (a driver's error, or ours). */
export function isRace(err: unknown): boolean {
  if (err instanceof WriteConflict) return err.retryable;
  const code = codeOf(err);
  return typeof code === 'string' && Object.hasOwn(raceCodes, code);
}

/** A driver's conflict as a WriteConflict with the driver's error as its cause; anything else as it is. */
export function conflictOf(err: unknown): unknown {
  if (err instanceof MimiError) return err;
  const code = codeOf(err);
  if (typeof code !== 'string') return err;
  if (Object.hasOwn(raceCodes, code)) {
    return new WriteConflict(raceCodes[code]!, code, { cause: err, retryable: true });
  }
  if (sqliteUniqueCodes.has(code)) {
    return new WriteConflict(ConflictKind.UniqueViolation, code, { cause: err, retryable: false });
  }
  return err;
}

/** Node socket errors that mean the server is not there (any more). */
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);
/** SQLSTATEs of a server going away or refusing connections for now. */
const serverGoneCodes = new Set(['57P01', '57P02', '57P03', '53300']);
/** pg-pool's and pg's own messages for a connection that died or never came. */
const lostMessage =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i;

/** True when `err` says the connection to PostgreSQL failed, rather than the statement. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string') {
    // SQLSTATE class 08: connection exception.
    if (socketCodes.has(e.code) || serverGoneCodes.has(e.code) || /^08/.test(e.code)) return true;
  }
  if (typeof e.message === 'string' && lostMessage.test(e.message)) return true;
  // Node's happy-eyeballs connect reports one error per address tried.
  return Array.isArray(e.errors) && e.errors.some(isConnectionError);
}

/** The one translation of a driver error: a lost or refused connection becomes StoreUnavailable, a conflict WriteConflict, anything else stays as it is. */
export function storeErrorOf(err: unknown, outcomeUnknown = false): unknown {
  if (err instanceof MimiError) return err;
  if (!isConnectionError(err)) return conflictOf(err);
  return new StoreUnavailable(
    outcomeUnknown
      ? 'the store went away while committing; the request may or may not have taken effect, repeat it'
      : 'the store is unreachable; repeat the request shortly',
    { cause: err, outcomeUnknown },
  );
}
