import { mailboxRange } from '../protocol/identifiers.js';
import {
  challengeColumns,
  csiStateSql,
  cutoffWhere,
  epochSelect,
  holderKeyWhere,
  liveWhere,
  mappingColumns,
  toChallenge,
  toCsiState,
  toEpoch,
  toHead,
  toHolderKey,
  toMapping,
  toOutboxItem,
  toWitnessed,
} from './rows.js';
import type { StoreTx } from './store.js';

/**
 * The StoreTx contract, declared once (STYLE.md §10). For every method:
 * - `route`, how the residency store (R27) routes it: to the region of a CSI it names, to the
 *   home store, to the write's own region, to every store with the answers merged, and so on
 *   (Route below). A method added to StoreTx does not compile until it has one.
 * - `statement`, where the method is one SQL statement: its text (shared, with `?` placeholders,
 *   or one per dialect), its parameters, and how its rows become the answer (rows.ts codecs).
 *   SQLite prepares it once on the writer; PostgreSQL runs it as a named statement (parsed once
 *   per connection), after the advisory lock of the CSI it names (PostgresStore's class comment).
 *   A method without one (its logic differs between backends) is written by each backend, in a
 *   `Pick<StoreTx, OwnTxMethod>` of its own, so it cannot be forgotten either.
 * Over 400 lines because it is that one table, an entry per method; split, it would no longer
 * be declared in one place.
 */

export type TxMethod = keyof StoreTx;
type Args<K extends TxMethod> = Parameters<StoreTx[K]>;
type Ret<K extends TxMethod> = Awaited<ReturnType<StoreTx[K]>>;

/** How a statement's outcome becomes the method's answer. `T` is only a type, checked against the method. */
export interface Result<T> {
  readonly kind: 'all' | 'first' | 'only' | 'rows' | 'column' | 'scalar' | 'changed' | 'count' | 'none';
  /** all, first, only: the row codec. */
  readonly row?: (r: never) => unknown;
  /** rows: the codec of all the rows at once. */
  readonly rows?: (rs: never[]) => unknown;
  /** column, scalar: the column read. */
  readonly column?: string;
  /** scalar: the answer when there is no row or the value is null. */
  readonly fallback?: unknown;
  readonly type?: (t: T) => T;
}

/** Every row, through `row`. */
export const all = <R, T>(row: (r: R) => T): Result<T[]> => ({
  kind: 'all',
  row: row as (r: never) => unknown,
});
/** The first row, through `row`, or undefined. */
export const first = <R, T>(row: (r: R) => T): Result<T | undefined> => ({
  kind: 'first',
  row: row as (r: never) => unknown,
});
/** The first row or undefined, through `row` either way. */
export const only = <R, T>(row: (r: R | undefined) => T): Result<T> => ({
  kind: 'only',
  row: row as (r: never) => unknown,
});
/** All the rows at once, through `rows`: one statement that answers several questions. */
export const rows = <R, T>(f: (rs: R[]) => T): Result<T> => ({
  kind: 'rows',
  rows: f as (rs: never[]) => unknown,
});
/** One column of every row. */
export const column = <T = string>(name: string): Result<T[]> => ({ kind: 'column', column: name });
/** One column of the first row, or `fallback`. */
export const scalar = <F>(name: string, fallback: F): Result<number | F> => ({
  kind: 'scalar',
  column: name,
  fallback,
});
/** True when the statement changed exactly one row (an insert that was not ignored). */
export const changed: Result<boolean> = { kind: 'changed' };
/** How many rows the statement changed. */
export const count: Result<number> = { kind: 'count' };
/** No answer: PostgreSQL sends it without waiting for one (postgres/pipeline.ts). */
export const none: Result<void> = { kind: 'none' };

/** A PostgreSQL advisory lock: a CSI's records (`csi`), or one peer's log as a witness. */
export type Lock = readonly ['csi' | 'witness', string];

export interface Statement<K extends TxMethod> {
  /** `?` placeholders; PostgreSQL's text gets `$1`, `$2`, ... in their order. */
  readonly sql: string | { readonly sqlite: string; readonly postgres: string };
  /** Booleans and byte arrays are bound as each driver needs them (rows.ts bind). */
  readonly params: (...a: Args<K>) => readonly unknown[];
  readonly result: Result<Ret<K>>;
  /** The advisory lock taken first; default: the CSI a `csi` route names. null: none. */
  readonly lock?: ((...a: Args<K>) => Lock) | null;
}

/** How the residency store routes a method (see ResidencyStore's class comment). */
export type Route<K extends TxMethod> =
  /** To the store of the CSI's region, which becomes the write's region; `record`: changes its records. */
  | { readonly to: 'csi'; readonly csi: (...a: Args<K>) => string; readonly record?: boolean }
  /** DP-wide state: the home store. */
  | { readonly to: 'home' }
  /** No CSI named, but a CSI's data: the write's region, or home before it has one. */
  | { readonly to: 'own'; readonly record?: boolean }
  /** A lookup by an id that names no region. */
  | { readonly to: 'lookup' }
  /** A change by ids that name no region: where each id is found (`exists`), `narrow`ed to those. */
  | {
      readonly to: 'by-ids';
      readonly ids: (...a: Args<K>) => readonly string[];
      readonly exists: 'mapping' | 'challenge';
      readonly narrow: (here: string[], ...a: Args<K>) => Args<K>;
    }
  /** A scan: every store, the answers merged. */
  | { readonly to: 'every'; readonly merge: (answers: Ret<K>[], ...a: Args<K>) => Ret<K> }
  /** An outbox item by id: the id says its store. */
  | { readonly to: 'outbox-item' }
  /** Routed by logic of its own (residency-store.ts, specialRoutes). */
  | { readonly to: 'special' };

export interface TxSpec<K extends TxMethod> {
  readonly route: Route<K>;
  readonly statement?: Statement<K>;
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
/** Bytewise order of CSIs, as both backends sort them (whatever the locale). */
export const byBytes = (a: string, b: string) => Buffer.compare(utf8(a), utf8(b));

const self = (csi: string) => csi;

export const txContract = {
  liveMappings: {
    route: { to: 'csi', csi: self },
    statement: {
      sql: `SELECT ${mappingColumns} FROM mappings WHERE ${liveWhere} ORDER BY accepted_at, id`,
      params: (csi) => [csi],
      result: all(toMapping),
    },
  },
  // PostgreSQL locks the row's CSI once it knows it and reads again; SQLite reads once.
  mapping: { route: { to: 'lookup' } },
  // One round trip instead of four (PostgreSQL: issue 16's accepts); after the CSI's lock, so a
  // second submission of one body waits for the first and then finds it.
  csiState: {
    route: { to: 'csi', csi: self },
    statement: {
      sql: csiStateSql,
      params: (csi, key, digest) => [digest, csi, csi, csi, key],
      result: rows(toCsiState),
    },
  },
  insertMapping: {
    route: { to: 'csi', csi: (m) => m.csi, record: true },
    statement: {
      sql: `INSERT INTO mappings (${mappingColumns}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: (m) => [
        m.id,
        m.csi,
        m.holderGroup,
        m.holderKey,
        m.msp,
        m.tag,
        m.priority,
        m.optOut,
        m.level,
        m.state,
        m.acceptedAt,
        m.expiresAt,
        m.contestDeadline,
        m.bodyDigest,
        m.json,
        m.acceptedAt,
      ],
      result: none,
    },
  },
  // One statement for all ids in PostgreSQL (= ANY), one per id in SQLite.
  setState: {
    route: {
      to: 'by-ids',
      ids: (ids) => ids,
      exists: 'mapping',
      narrow: (here, _ids, state, now, deadline) => [here, state, now, deadline],
    },
  },
  holderKey: {
    route: { to: 'csi', csi: self },
    statement: {
      sql: `SELECT csi, key, grp, retired FROM holder_keys WHERE ${holderKeyWhere}`,
      params: (csi, key) => [csi, key],
      result: first(toHolderKey),
    },
  },
  insertHolderKey: {
    route: { to: 'csi', csi: (k) => k.csi, record: true },
    statement: {
      sql: 'INSERT INTO holder_keys (csi, key, grp, retired) VALUES (?, ?, ?, ?)',
      params: (k) => [k.csi, k.key, k.group, k.retired],
      result: none,
    },
  },
  retireHolderKey: {
    route: { to: 'csi', csi: self, record: true },
    statement: {
      sql: 'UPDATE holder_keys SET retired = ? WHERE csi = ? AND key = ?',
      params: (csi, key) => [true, csi, key],
      result: none,
    },
  },
  // Each purges expired rows first, differently (PostgreSQL: a few, skipping locked ones).
  rememberRequest: { route: { to: 'own', record: true } },
  // Not CSI data: kept in the node's own region, like request ids.
  spendToken: { route: { to: 'own', record: true } },
  csisWithDueContests: {
    route: { to: 'every', merge: (found) => [...new Set(found.flat())] },
    statement: {
      sql: {
        sqlite: "SELECT DISTINCT csi FROM mappings WHERE state = 'contested' AND contest_deadline <= ?",
        postgres:
          "SELECT DISTINCT csi FROM mappings WHERE state = 'contested' AND contest_deadline <= ? ORDER BY csi",
      },
      params: (now) => [now],
      result: column('csi'),
    },
  },
  insertChallenge: {
    route: { to: 'csi', csi: (c) => c.csi, record: true },
    statement: {
      sql: `INSERT INTO challenges (${challengeColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: (c) => [
        c.id,
        c.csi,
        c.holderKey,
        c.method,
        c.codeHash,
        c.createdAt,
        c.expiresAt,
        c.attempts,
        c.state,
      ],
      result: none,
    },
  },
  challenge: {
    route: { to: 'lookup' },
    statement: {
      sql: {
        sqlite: `SELECT ${challengeColumns} FROM challenges WHERE id = ?`,
        // The attempt count is checked and then raised; two nodes must not both count one.
        postgres: `SELECT ${challengeColumns} FROM challenges WHERE id = ? FOR UPDATE`,
      },
      params: (id) => [id],
      result: first(toChallenge),
    },
  },
  updateChallenge: {
    route: { to: 'by-ids', ids: (id) => [id], exists: 'challenge', narrow: (_here, ...a) => a },
    statement: {
      sql: 'UPDATE challenges SET attempts = ?, state = ? WHERE id = ?',
      params: (id, attempts, state) => [attempts, state, id],
      result: none,
    },
  },
  countRecentChallenges: {
    route: { to: 'csi', csi: self },
    statement: {
      sql: 'SELECT count(*) AS n FROM challenges WHERE csi = ? AND created_at >= ?',
      params: (csi, since) => [csi, since],
      result: scalar('n', 0),
    },
  },
  // A mailbox's CSIs share its domain, so its region.
  countRecentMailboxChallenges: {
    route: { to: 'csi', csi: self },
    statement: {
      // Byte order (SQLite's BINARY collation, PostgreSQL's "C"): the range is every CSI
      // starting with `mailto:<base>+`.
      sql: {
        sqlite:
          'SELECT count(*) AS n FROM challenges WHERE (csi = ? OR (csi >= ? AND csi < ? AND substr(csi, -?) = ?)) AND created_at >= ?',
        postgres:
          'SELECT count(*) AS n FROM challenges WHERE (csi = ? OR (csi >= ? AND csi < ? AND right(csi, ?) = ?)) AND created_at >= ?',
      },
      params: (csi, since) => {
        const r = mailboxRange(csi);
        return [r.mailbox, r.plusFrom, r.plusTo, r.suffix.length, r.suffix, since];
      },
      result: scalar('n', 0),
      // One lock per mailbox: two starts for bob+a and bob+b count one after the other.
      lock: (csi) => ['csi', `mailbox:${mailboxRange(csi).mailbox}`],
    },
  },
  oprfEpochs: {
    route: { to: 'home' },
    statement: {
      sql: `SELECT ${epochSelect} FROM oprf_epochs ORDER BY id`,
      params: () => [],
      result: all(toEpoch),
    },
  },
  insertOprfEpoch: {
    route: { to: 'home' },
    statement: {
      sql: `INSERT INTO oprf_epochs (${epochSelect}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      params: (e) => [
        e.id,
        e.state,
        e.sealedKey,
        e.publicKey,
        e.bucketBits,
        e.padTo,
        e.dummyLength,
        e.minBucket,
        e.buildCursor,
        e.createdAt,
        e.activatedAt,
        e.retireAt,
      ],
      result: none,
    },
  },
  // The columns set depend on the patch: the statement is built per call.
  updateOprfEpoch: { route: { to: 'home' } },
  // Entries are sealed right after the CSI's mappings are read (PrivateIndex.seal): the write's
  // region is that CSI's.
  putPrivateEntry: {
    route: { to: 'own' },
    statement: {
      sql: 'INSERT INTO private_index (epoch, bucket_key, tag, payload, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (epoch, bucket_key, tag) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at',
      params: (epoch, e, now) => [epoch, e.bucketKey, e.tag, e.payload, now],
      result: none,
    },
  },
  deletePrivateEntry: {
    route: { to: 'own' },
    statement: {
      sql: 'DELETE FROM private_index WHERE epoch = ? AND bucket_key = ? AND tag = ?',
      params: (epoch, e) => [epoch, e.bucketKey, e.tag],
      result: none,
    },
  },
  dropPrivateEntries: {
    route: { to: 'special' },
    statement: {
      sql: 'DELETE FROM private_index WHERE (epoch, bucket_key, tag) IN (SELECT epoch, bucket_key, tag FROM private_index WHERE epoch = ? LIMIT ?)',
      params: (epoch, limit) => [epoch, limit],
      result: count,
    },
  },
  servedCsisAfter: {
    route: { to: 'every', merge: (found, _after, limit) => found.flat().sort(byBytes).slice(0, limit) },
    statement: {
      sql: "SELECT DISTINCT csi FROM mappings WHERE csi > ? AND state = 'active' AND expires_at > ? ORDER BY csi LIMIT ?",
      params: (after, limit, now) => [after ?? '', now, limit],
      result: column('csi'),
    },
  },
  csisExpiringBetween: {
    route: { to: 'every', merge: (found) => found.flat() },
    statement: {
      sql: {
        sqlite:
          "SELECT DISTINCT csi FROM mappings WHERE state = 'active' AND expires_at > ? AND expires_at <= ?",
        postgres:
          "SELECT DISTINCT csi FROM mappings WHERE state = 'active' AND expires_at > ? AND expires_at <= ? ORDER BY csi",
      },
      params: (from, to) => [from, to],
      result: column('csi'),
    },
  },
  // One statement for the lot in PostgreSQL (unnest), one per item in SQLite.
  enqueue: { route: { to: 'own', record: true } },
  dueOutbox: {
    route: { to: 'special' },
    statement: {
      sql: 'SELECT id, target, event_id, body, attempts, next_at FROM outbox WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?',
      params: (nowMs, limit) => [nowMs, limit],
      result: all(toOutboxItem),
    },
  },
  outboxDelivered: {
    route: { to: 'outbox-item' },
    statement: {
      sql: 'UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ?',
      params: (id, nowMs) => [nowMs, id],
      result: none,
    },
  },
  outboxRetry: {
    route: { to: 'outbox-item' },
    statement: {
      sql: 'UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?',
      params: (id, attempts, nextAtMs, error) => [attempts, nextAtMs, error.slice(0, 500), id],
      result: none,
    },
  },
  insertCsipEvent: {
    route: { to: 'csi', csi: (row) => row.csi, record: true },
    statement: {
      sql: {
        sqlite:
          'INSERT OR IGNORE INTO csip_events (id, csi, kind, at, json, received_at) VALUES (?, ?, ?, ?, ?, ?)',
        postgres:
          'INSERT INTO csip_events (id, csi, kind, at, json, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      },
      params: (row, now) => [row.id, row.csi, row.kind, row.at, row.json, now],
      result: changed,
    },
  },
  csipCutoff: {
    route: { to: 'csi', csi: self },
    statement: {
      sql: `SELECT MAX(at) AS at FROM csip_events WHERE ${cutoffWhere}`,
      params: (csi) => [csi],
      result: scalar('at', null),
    },
  },
  // transparency log: DP-wide, in the home store; appends land in the same write as the change they log (R3)
  logHead: {
    route: { to: 'home' },
    statement: {
      sql: {
        sqlite: 'SELECT size, edge FROM log_head WHERE id = 1',
        // Every append, from any node, waits for the one before it to commit and then reads the
        // head it left: the log is one sequence, and this row is its turnstile.
        postgres: 'SELECT size, edge FROM log_head WHERE id = 1 FOR UPDATE',
      },
      params: () => [],
      result: only(toHead),
    },
  },
  // Many rows per call: PostgreSQL inserts them with unnest, SQLite one by one.
  appendLog: { route: { to: 'home' } },
  insertCheckpoint: {
    route: { to: 'home' },
    statement: {
      sql: {
        sqlite: 'INSERT OR IGNORE INTO log_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)',
        postgres:
          'INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING',
      },
      params: (row) => [row.size, row.rootHash, row.note, row.createdAt],
      result: changed,
    },
  },
  // Two statements: the line, then the checkpoint's count of cosignatures.
  addCosignature: { route: { to: 'home' } },
  // As a witness, one peer's log at a time: its last checkpoint is read, compared, replaced.
  witnessed: {
    route: { to: 'home' },
    statement: {
      sql: 'SELECT dp, size, root, note, seen_at FROM log_witnessed WHERE dp = ?',
      params: (dp) => [dp],
      result: first(toWitnessed),
      lock: (dp) => ['witness', dp],
    },
  },
  setWitnessed: {
    route: { to: 'home' },
    statement: {
      sql: {
        sqlite: 'INSERT OR REPLACE INTO log_witnessed (dp, size, root, note, seen_at) VALUES (?, ?, ?, ?, ?)',
        postgres:
          'INSERT INTO log_witnessed (dp, size, root, note, seen_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (dp) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root, note = EXCLUDED.note, seen_at = EXCLUDED.seen_at',
      },
      params: (row) => [row.dp, row.size, row.rootHash, row.note, row.seenAt],
      result: none,
      lock: (row) => ['witness', row.dp],
    },
  },
  insertLogFork: {
    route: { to: 'home' },
    statement: {
      sql: 'INSERT INTO log_forks (dp, detected_at, reason, evidence) VALUES (?, ?, ?, ?)',
      params: (row) => [row.dp, row.detectedAt, row.reason, row.evidence],
      result: none,
    },
  },
} as const satisfies { readonly [K in TxMethod]: TxSpec<K> };

/** Methods that are one declared statement. */
export type StatementTxMethod = {
  [K in TxMethod]: (typeof txContract)[K] extends { statement: object } ? K : never;
}[TxMethod];
/** Methods each backend writes itself. */
export type OwnTxMethod = Exclude<TxMethod, StatementTxMethod>;
/** Methods the residency store routes by logic of its own. */
export type SpecialRoutedMethod = {
  [K in TxMethod]: (typeof txContract)[K]['route'] extends { to: 'special' } ? K : never;
}[TxMethod];

/** Method names of the contract, in declaration order. */
export const txMethods = Object.keys(txContract) as TxMethod[];

/** The statement of `method`, typed loosely for the backends that build from it. */
export function statementOf(method: TxMethod): Statement<TxMethod> | undefined {
  return (txContract[method] as TxSpec<TxMethod>).statement;
}

/** A statement's result spec, loosely typed, for the backends that build from it. */
export function resultOf(s: Statement<TxMethod>): {
  kind: Result<unknown>['kind'];
  row: (r: unknown) => unknown;
  rows: (rs: unknown[]) => unknown;
  column: string;
  fallback: unknown;
} {
  return s.result as unknown as ReturnType<typeof resultOf>;
}

/** A statement's text in PostgreSQL's placeholders. */
export function postgresText(sql: Statement<TxMethod>['sql']): string {
  let n = 0;
  return (typeof sql === 'string' ? sql : sql.postgres).replace(/\?/g, () => `$${++n}`);
}

export function sqliteText(sql: Statement<TxMethod>['sql']): string {
  return typeof sql === 'string' ? sql : sql.sqlite;
}
