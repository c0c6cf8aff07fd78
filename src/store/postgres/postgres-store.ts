import pg from 'pg';
import { mailboxRange } from '../../protocol/identifiers.js';
import type { EntryFrames } from '../../protocol/private.js';
import { isConnectionError, isRace, StoreClosed, storeErrorOf } from '../errors.js';
import { postgresMigrations } from '../migrations/postgres.js';
import {
  bytesOf,
  type EpochRow,
  epochColumns,
  type MappingRow,
  mappingColumns,
  servedColumns,
  servedColumnsWithoutJson,
  toChallenge,
  toEpoch,
  toMapping,
  toServed,
} from '../rows.js';
import type {
  Challenge,
  ChallengeState,
  CsipEventRow,
  HolderKey,
  LogCheckpointRow,
  LogForkRow,
  LogHead,
  LogLeafRow,
  LogNode,
  MappingState,
  OprfEpoch,
  OutboxItem,
  PrivateEntry,
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
  WitnessedRow,
} from '../store.js';
import { LockSpace } from './locks.js';
import * as log from './postgres-log.js';

export interface PostgresStoreOptions {
  /**
   * `postgres://user@host:port/database`. A password may be left out of the URL and given in
   * PGPASSWORD or ~/.pgpass instead, which pg reads.
   */
  url: string;
  /** Connections this node keeps open at most (default 10). */
  poolSize?: number;
  /** Schema holding the tables, created if missing (default: the server's search_path, normally public). */
  schema?: string;
  /** How long a request waits for a connection before failing with store-unavailable (default 5000). */
  connectionTimeoutMs?: number;
  /** Times one write runs when it loses a race to another transaction (default 5); see write(). */
  maxWriteAttempts?: number;
  /**
   * Server settings for this node's sessions, e.g. `{ statement_timeout: '10s', lock_timeout: '5s' }`.
   * Names are lower-case words; values letters, digits and `_.:-`.
   */
  settings?: Readonly<Record<string, string | number>>;
}

type Row = Record<string, unknown>;

// Columns named, never `*`: a prepared `SELECT *` fails on every open connection ("cached plan
// must not change result type") once a newer node's migration adds a column (rolling upgrade).
const epochSelect =
  'id, state, sealed_key, public_key, bucket_bits, pad_to, dummy_length, min_bucket, build_cursor, created_at, activated_at, retire_at';
const challengeSelect = 'id, csi, holder_key, method, code_hash, created_at, expires_at, attempts, state';

/** int8 (counts, times, bucket keys) as a JS number: every value stored here is below 2^53. */
const int8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8 && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The production store: PostgreSQL through a pool of pg connections. Reads outside write() use
 * any pooled connection and see committed state only.
 *
 * Isolation between nodes (many DP processes share one database): write() runs READ COMMITTED
 * and takes a transaction-scoped advisory lock on each CSI at the transaction's first use of it
 * (`pg_advisory_xact_lock(LockSpace.Csi, hashtext(csi))`), before the statement that reads it.
 * Every check-then-change of the DP (precedence, Default tag, supersedes, holder keys, contests,
 * challenge budgets, CSIP cut-offs) is about one CSI, so writes to one CSI run one after the
 * other across all nodes, and each statement after the lock sees what the previous holder
 * committed; writes to different CSIs never wait for each other. A challenge is read
 * `FOR UPDATE`, so two nodes cannot both count one attempt. The one check made before a CSI is
 * known, the body-digest lookup, is backed by a unique index: a loser gets 23505 and runs again
 * (isRace in ../errors.ts lists the races).
 * SERIALIZABLE would give the same guarantee, but its predicate locks make unrelated writes
 * (the replay-id purge, outbox scans, index ranges) abort each other under load; here the only
 * retries are the rare real races isRace lists.
 */
export class PostgresStore implements Store {
  readonly backend = 'postgres';
  private readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private readonly maxAttempts: number;
  private closed = false;

  /** Connects and applies the pending migrations; the store is ready when this resolves. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      await store.migrate();
    } catch (err) {
      await store.pool.end().catch(() => undefined);
      throw storeErrorOf(err);
    }
    return store;
  }

  private constructor(opts: PostgresStoreOptions) {
    if (opts.schema !== undefined && !identifier.test(opts.schema)) {
      throw new TypeError(`schema ${JSON.stringify(opts.schema)}: use lower-case letters, digits and _`);
    }
    this.schema = opts.schema;
    this.maxAttempts = opts.maxWriteAttempts ?? 5;
    const options: string[] = opts.schema === undefined ? [] : [`-c search_path=${opts.schema}`];
    for (const [name, value] of Object.entries(opts.settings ?? {})) {
      // Sent in the startup packet's options string: nothing there may break out of `-c name=value`.
      if (!/^[a-z_][a-z0-9_.]*$/.test(name) || !/^[A-Za-z0-9_.:-]+$/.test(String(value))) {
        throw new TypeError(`settings.${name}: not a plain setting name and value`);
      }
      options.push(`-c ${name}=${value}`);
    }
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'mimi-discovery',
      types,
      ...(options.length === 0 ? {} : { options: options.join(' ') }),
    });
    // An idle connection that dies (server restart) is dropped by the pool; the next request
    // opens a new one. Without a listener the error would crash the process.
    this.pool.on('error', () => undefined);
  }

  /** Applies every migration newer than the database, each in its own transaction. */
  private async migrate(): Promise<void> {
    const c = await this.pool.connect();
    const key = this.schema ?? 'public';
    try {
      // Nodes starting together: one migrates, the others wait and then find nothing to do.
      await c.query('SELECT pg_advisory_lock($1, hashtext($2))', [LockSpace.Migrations, key]);
      try {
        if (this.schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await c.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
        );
        const current = await this.versionOn(c);
        for (const m of postgresMigrations) {
          if (m.version <= current) continue;
          await c.query('BEGIN');
          try {
            await c.query(m.sql);
            await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
              m.version,
              m.name,
              Math.floor(Date.now() / 1000),
            ]);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LockSpace.Migrations, key]);
      }
      c.release();
    } catch (err) {
      c.release(true);
      throw err;
    }
  }

  private async versionOn(c: pg.PoolClient): Promise<number> {
    const r = await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    return r.rows[0]?.v ?? 0;
  }

  async schemaVersion(): Promise<number> {
    const r = await this.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    return r[0]?.v ?? 0;
  }

  /**
   * One transaction on one pooled connection (see the class comment for how it is isolated from
   * other nodes). When it loses a race (isRace) it is rolled back and `fn` runs again from the
   * start, up to maxWriteAttempts times, so `fn` must act only through `tx` (anything else it does
   * must be safe to repeat). The caller is answered only after COMMIT returns: what is
   * acknowledged is durable. A connection lost before COMMIT rolls the write back; lost during
   * COMMIT, its outcome is unknown; both give store-unavailable, and repeating the request is
   * safe because every write is idempotent by body digest or request id.
   */
  async write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new StoreClosed();
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw storeErrorOf(err);
      }
      let broken: Error | undefined;
      let committing = false;
      // The connection can die between two statements of `fn`; pg then emits 'error' on the
      // client, which the pool listens for only while the client is idle. Unheard, it would
      // crash the process; heard, the next statement fails and the write ends as below.
      const onError = (err: Error) => {
        broken = err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const value = await fn(new PgTx(client));
        committing = true;
        await client.query('COMMIT');
        return value;
      } catch (err) {
        if (isConnectionError(err)) broken = err as Error;
        else if (!committing || isRace(err)) {
          // A failed COMMIT has already ended the transaction; ROLLBACK then only warns.
          await client.query('ROLLBACK').catch((e: Error) => {
            broken = e;
          });
        }
        if (broken === undefined && isRace(err) && attempt < this.maxAttempts) {
          // Let the winner finish; jitter so two losers do not collide again.
          await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          continue;
        }
        throw storeErrorOf(err, committing);
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  private async query<R extends Row>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.run<R>(undefined, text, values)).rows;
  }

  /** A read on any pooled connection; named statements are prepared once per connection. */
  private readonly run: log.Run = async (name, text, values) => {
    try {
      return await this.pool.query(name === undefined ? { text, values } : { name, text, values });
    } catch (err) {
      throw storeErrorOf(err);
    }
  };

  async activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>> {
    const out = new Map<string, StoredMapping[]>();
    for (const csi of csis) out.set(csi, []);
    if (csis.length === 0) return out;
    const rows = await this.query<MappingRow & Row>(
      `SELECT ${mappingColumns} FROM mappings WHERE csi = ANY($1::text[]) AND state = 'active' AND expires_at > $2 ORDER BY csi, accepted_at, id`,
      [csis, now],
    );
    for (const r of rows) out.get(r.csi)?.push(toMapping(r));
    return out;
  }

  async servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    const out = new Map<string, ServedStoredMapping[]>();
    for (const csi of csis) out.set(csi, []);
    if (csis.length === 0) return out;
    const columns = opts?.json === false ? servedColumnsWithoutJson : servedColumns;
    const rows = await this.query<MappingRow & Row>(
      `SELECT ${columns} FROM mappings WHERE csi = ANY($1::text[]) AND state = 'active' AND expires_at > $2 ORDER BY csi, accepted_at, id`,
      [csis, now],
    );
    for (const r of rows) {
      out.get(r.csi)?.push(toServed(r));
    }
    return out;
  }

  async mapping(id: string): Promise<StoredMapping | undefined> {
    const [r] = await this.query<MappingRow & Row>(`SELECT ${mappingColumns} FROM mappings WHERE id = $1`, [
      id,
    ]);
    return r === undefined ? undefined : toMapping(r);
  }

  async stats(): Promise<{ mappings: number; active: number }> {
    const [r] = await this.query<{ mappings: number; active: number }>(
      "SELECT count(*) AS mappings, count(*) FILTER (WHERE state = 'active') AS active FROM mappings",
    );
    return { mappings: r?.mappings ?? 0, active: r?.active ?? 0 };
  }

  async outboxDepth(): Promise<Record<string, number>> {
    const rows = await this.query<{ target: string; n: number }>(
      'SELECT target, count(*) AS n FROM outbox WHERE delivered_at IS NULL GROUP BY target',
    );
    return Object.fromEntries(rows.map((r) => [r.target, r.n]));
  }

  async oprfEpochs(): Promise<OprfEpoch[]> {
    return (await this.query<EpochRow & Row>(`SELECT ${epochSelect} FROM oprf_epochs ORDER BY id`)).map(
      toEpoch,
    );
  }

  async privateBucket(epoch: number, fromKey: number, toKey: number): Promise<EntryFrames> {
    // One row per bucket, entries framed as on the wire (tag | u16 length | payload) in tag order.
    const [row] = await this.query<{ n: number; frames: Buffer | null }>(
      `SELECT count(*)::int AS n,
         string_agg(tag || substring(int4send(length(payload)) FROM 3 FOR 2) || payload, ''::bytea ORDER BY tag) AS frames
       FROM private_index WHERE epoch = $1 AND bucket_key BETWEEN $2 AND $3`,
      [epoch, fromKey, toKey],
    );
    return { count: row!.n, bytes: row!.frames ?? new Uint8Array(0) };
  }

  async privateIndexStats(
    epoch: number,
    bits: number,
  ): Promise<{ counts: number[]; modalPayloadLength: number }> {
    const counts = new Array<number>(2 ** bits).fill(0);
    const rows = await this.query<{ b: number; n: number }>(
      'SELECT bucket_key >> $1 AS b, count(*) AS n FROM private_index WHERE epoch = $2 GROUP BY b',
      [32 - bits, epoch],
    );
    for (const r of rows) counts[r.b] = r.n;
    const [mode] = await this.query<{ len: number }>(
      'SELECT octet_length(payload) AS len, count(*) AS n FROM private_index WHERE epoch = $1 GROUP BY len ORDER BY n DESC, len LIMIT 1',
      [epoch],
    );
    return { counts, modalPayloadLength: mode?.len ?? 0 };
  }

  // transparency log, committed state

  logHead(): Promise<LogHead> {
    return log.logHead(this.run, false);
  }

  logLeaves(start: number, end: number): Promise<LogLeafRow[]> {
    return log.logLeaves(this.run, start, end);
  }

  logLeafIndex(hash: Uint8Array): Promise<number | undefined> {
    return log.logLeafIndex(this.run, hash);
  }

  logSubtrees(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]> {
    return log.logSubtrees(this.run, ranges);
  }

  latestCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return log.latestCheckpoint(this.run);
  }

  latestCosignedCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return log.latestCosignedCheckpoint(this.run);
  }

  checkpointAt(size: number): Promise<LogCheckpointRow | undefined> {
    return log.checkpointAt(this.run, size);
  }

  witnessedLogs(): Promise<WitnessedRow[]> {
    return log.witnessedLogs(this.run);
  }

  logForks(): Promise<LogForkRow[]> {
    return log.logForks(this.run);
  }

  /** Waits for the connections in use to be released, then closes them all. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** The operations of one write, on its connection. Statements are named: parsed once per connection. */
class PgTx implements StoreTx {
  /** CSIs whose advisory lock this transaction holds (or is acquiring). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly c: pg.PoolClient) {}

  private readonly run: log.Run = (name, text, values) =>
    this.c.query(name === undefined ? { text, values } : { name, text, values });

  private async rows<R extends Row>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.run<R>(name, text, values)).rows;
  }

  /**
   * Holds the CSI's lock until commit or rollback. A separate statement, before the one that
   * reads: under READ COMMITTED each statement's snapshot is taken when it starts, so only a
   * statement that starts after the lock is granted sees what the previous holder committed.
   */
  private lock(csi: string, space: LockSpace = LockSpace.Csi): Promise<unknown> {
    const key = `${space}:${csi}`;
    let held = this.locks.get(key);
    if (held === undefined) {
      held = this.run('xact-lock', 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [space, csi]);
      this.locks.set(key, held);
    }
    return held;
  }

  async liveMappings(csi: string): Promise<StoredMapping[]> {
    await this.lock(csi);
    const rows = await this.rows<MappingRow & Row>(
      'live',
      `SELECT ${mappingColumns} FROM mappings WHERE csi = $1 AND state IN ('active', 'contested') ORDER BY accepted_at, id`,
      [csi],
    );
    return rows.map(toMapping);
  }

  async mapping(id: string): Promise<StoredMapping | undefined> {
    const read = async () =>
      (
        await this.rows<MappingRow & Row>('by-id', `SELECT ${mappingColumns} FROM mappings WHERE id = $1`, [
          id,
        ])
      )[0];
    const r = await read();
    if (r === undefined) return undefined;
    if (this.locks.has(`${LockSpace.Csi}:${r.csi}`)) return toMapping(r);
    // Now that we know its CSI: lock it, and read the row again as the lock holder sees it.
    await this.lock(r.csi);
    const again = await read();
    return again === undefined ? undefined : toMapping(again);
  }

  async mappingByBodyDigest(bodyDigest: string): Promise<StoredMapping | undefined> {
    // No lock: the CSI is not known yet. The unique index on body_digest settles a race (write()).
    const [r] = await this.rows<MappingRow & Row>(
      'by-body',
      `SELECT ${mappingColumns} FROM mappings WHERE body_digest = $1`,
      [bodyDigest],
    );
    return r === undefined ? undefined : toMapping(r);
  }

  async insertMapping(m: StoredMapping): Promise<void> {
    await this.lock(m.csi);
    await this.run(
      'insert-mapping',
      `INSERT INTO mappings (${mappingColumns}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $11)`,
      [
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
      ],
    );
  }

  async setState(
    ids: readonly string[],
    state: MappingState,
    now: number,
    contestDeadline?: number,
  ): Promise<void> {
    if (ids.length === 0) return;
    const deadline = state === 'contested' ? (contestDeadline ?? null) : null;
    await this.run(
      'set-state',
      'UPDATE mappings SET state = $1, contest_deadline = $2, updated_at = $3 WHERE id = ANY($4::text[])',
      [state, deadline, now, ids],
    );
  }

  async holderKey(csi: string, key: string): Promise<HolderKey | undefined> {
    await this.lock(csi);
    const [r] = await this.rows<{ csi: string; key: string; grp: string; retired: boolean }>(
      'holder-key',
      'SELECT csi, key, grp, retired FROM holder_keys WHERE csi = $1 AND key = $2',
      [csi, key],
    );
    return r === undefined ? undefined : { csi: r.csi, key: r.key, group: r.grp, retired: r.retired };
  }

  async insertHolderKey(k: HolderKey): Promise<void> {
    await this.lock(k.csi);
    await this.run(
      'insert-holder-key',
      'INSERT INTO holder_keys (csi, key, grp, retired) VALUES ($1, $2, $3, $4)',
      [k.csi, k.key, k.group, k.retired],
    );
  }

  async retireHolderKey(csi: string, key: string): Promise<void> {
    await this.lock(csi);
    await this.run('retire-holder-key', 'UPDATE holder_keys SET retired = true WHERE csi = $1 AND key = $2', [
      csi,
      key,
    ]);
  }

  async rememberRequest(id: string, expiresAt: number): Promise<boolean> {
    const now = Math.floor(Date.now() / 1000);
    // Purge a few expired ids, skipping rows another write is purging: no write waits on another here.
    await this.run(
      'purge-seen',
      'DELETE FROM seen_requests WHERE id IN (SELECT id FROM seen_requests WHERE expires_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)',
      [now],
    );
    // An expired id not purged yet counts as unseen, as it would once purged. Concurrent inserts
    // of one id wait for each other (unique index): exactly one of them returns true.
    const r = await this.run(
      'remember',
      'INSERT INTO seen_requests (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE seen_requests.expires_at < $3',
      [id, expiresAt, now],
    );
    return r.rowCount === 1;
  }

  async spendToken(keyId: string, nonce: string, keepUntil: number): Promise<boolean> {
    await this.run(
      'purge-spent',
      'DELETE FROM spent_tokens WHERE (key_id, nonce) IN (SELECT key_id, nonce FROM spent_tokens WHERE expires_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)',
      [Math.floor(Date.now() / 1000)],
    );
    // Concurrent inserts of one token wait for each other (primary key): exactly one is true.
    const r = await this.run(
      'spend-token',
      'INSERT INTO spent_tokens (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [keyId, nonce, keepUntil],
    );
    return r.rowCount === 1;
  }

  async csisWithDueContests(now: number): Promise<string[]> {
    const rows = await this.rows<{ csi: string }>(
      'due-contests',
      "SELECT DISTINCT csi FROM mappings WHERE state = 'contested' AND contest_deadline <= $1 ORDER BY csi",
      [now],
    );
    return rows.map((r) => r.csi);
  }

  async insertChallenge(c: Challenge): Promise<void> {
    await this.lock(c.csi);
    await this.run(
      'insert-challenge',
      'INSERT INTO challenges (id, csi, holder_key, method, code_hash, created_at, expires_at, attempts, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [c.id, c.csi, c.holderKey, c.method, c.codeHash, c.createdAt, c.expiresAt, c.attempts, c.state],
    );
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    // FOR UPDATE: the attempt count is checked and then raised; two nodes must not both count one.
    const [r] = await this.rows<Row>(
      'challenge',
      `SELECT ${challengeSelect} FROM challenges WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (r === undefined) return undefined;
    return toChallenge(r);
  }

  async updateChallenge(id: string, attempts: number, state: ChallengeState): Promise<void> {
    await this.run('update-challenge', 'UPDATE challenges SET attempts = $1, state = $2 WHERE id = $3', [
      attempts,
      state,
      id,
    ]);
  }

  async countRecentChallenges(csi: string, since: number): Promise<number> {
    await this.lock(csi);
    const [r] = await this.rows<{ n: number }>(
      'count-challenges',
      'SELECT count(*) AS n FROM challenges WHERE csi = $1 AND created_at >= $2',
      [csi, since],
    );
    return r?.n ?? 0;
  }

  async countRecentMailboxChallenges(csi: string, since: number): Promise<number> {
    const r = mailboxRange(csi);
    // One lock per mailbox: two starts for bob+a and bob+b count one after the other.
    await this.lock(`mailbox:${r.mailbox}`);
    const [row] = await this.rows<{ n: number }>(
      'count-mailbox-challenges',
      // csi is COLLATE "C": byte order, so the range is every CSI starting with `mailto:<base>+`.
      'SELECT count(*) AS n FROM challenges WHERE (csi = $1 OR (csi >= $2 AND csi < $3 AND right(csi, $4) = $5)) AND created_at >= $6',
      [r.mailbox, r.plusFrom, r.plusTo, r.suffix.length, r.suffix, since],
    );
    return row?.n ?? 0;
  }

  async oprfEpochs(): Promise<OprfEpoch[]> {
    return (
      await this.rows<EpochRow & Row>('epochs', `SELECT ${epochSelect} FROM oprf_epochs ORDER BY id`, [])
    ).map(toEpoch);
  }

  async insertOprfEpoch(e: OprfEpoch): Promise<void> {
    await this.run(
      'insert-epoch',
      'INSERT INTO oprf_epochs (id, state, sealed_key, public_key, bucket_bits, pad_to, dummy_length, min_bucket, build_cursor, created_at, activated_at, retire_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
      [
        e.id,
        e.state,
        bytesOf(e.sealedKey),
        bytesOf(e.publicKey),
        e.bucketBits,
        e.padTo,
        e.dummyLength,
        e.minBucket,
        e.buildCursor,
        e.createdAt,
        e.activatedAt,
        e.retireAt,
      ],
    );
  }

  async updateOprfEpoch(
    id: number,
    patch: Partial<Omit<OprfEpoch, 'id' | 'sealedKey' | 'publicKey' | 'createdAt'>>,
  ): Promise<void> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [field, value] of Object.entries(patch)) {
      const column = epochColumns[field];
      if (column === undefined || value === undefined) continue;
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    }
    if (sets.length === 0) return;
    values.push(id);
    await this.c.query(`UPDATE oprf_epochs SET ${sets.join(', ')} WHERE id = $${values.length}`, values);
  }

  async putPrivateEntry(epoch: number, e: PrivateEntry, now: number): Promise<void> {
    await this.run(
      'put-entry',
      'INSERT INTO private_index (epoch, bucket_key, tag, payload, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (epoch, bucket_key, tag) DO UPDATE SET payload = EXCLUDED.payload, updated_at = EXCLUDED.updated_at',
      [epoch, e.bucketKey, bytesOf(e.tag), bytesOf(e.payload), now],
    );
  }

  async deletePrivateEntry(epoch: number, e: Pick<PrivateEntry, 'bucketKey' | 'tag'>): Promise<void> {
    await this.run(
      'delete-entry',
      'DELETE FROM private_index WHERE epoch = $1 AND bucket_key = $2 AND tag = $3',
      [epoch, e.bucketKey, bytesOf(e.tag)],
    );
  }

  async dropPrivateEntries(epoch: number, limit: number): Promise<number> {
    const r = await this.run(
      'drop-entries',
      'DELETE FROM private_index WHERE (epoch, bucket_key, tag) IN (SELECT epoch, bucket_key, tag FROM private_index WHERE epoch = $1 LIMIT $2)',
      [epoch, limit],
    );
    return r.rowCount ?? 0;
  }

  async servedCsisAfter(after: string | null, limit: number, now: number): Promise<string[]> {
    const rows = await this.rows<{ csi: string }>(
      'served-after',
      "SELECT DISTINCT csi FROM mappings WHERE csi > $1 AND state = 'active' AND expires_at > $2 ORDER BY csi LIMIT $3",
      [after ?? '', now, limit],
    );
    return rows.map((r) => r.csi);
  }

  async csisExpiringBetween(from: number, to: number): Promise<string[]> {
    const rows = await this.rows<{ csi: string }>(
      'expiring',
      "SELECT DISTINCT csi FROM mappings WHERE state = 'active' AND expires_at > $1 AND expires_at <= $2 ORDER BY csi",
      [from, to],
    );
    return rows.map((r) => r.csi);
  }

  async enqueue(
    items: readonly { target: string; eventId: string; body: string }[],
    nowMs: number,
  ): Promise<void> {
    if (items.length === 0) return;
    // One statement for the lot; WITH ORDINALITY keeps the ids in the order given (delivery order).
    await this.run(
      'enqueue',
      `INSERT INTO outbox (target, event_id, body, next_at, created_at)
       SELECT t, e, b, $4, $4 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, e, b, n) ORDER BY n
       ON CONFLICT (target, event_id) DO NOTHING`,
      [items.map((i) => i.target), items.map((i) => i.eventId), items.map((i) => i.body), nowMs],
    );
  }

  async dueOutbox(nowMs: number, limit: number): Promise<OutboxItem[]> {
    const rows = await this.rows<{
      id: number;
      target: string;
      event_id: string;
      body: string;
      attempts: number;
      next_at: number;
    }>(
      'due-outbox',
      'SELECT id, target, event_id, body, attempts, next_at FROM outbox WHERE delivered_at IS NULL AND next_at <= $1 ORDER BY next_at, id LIMIT $2',
      [nowMs, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      target: r.target,
      eventId: r.event_id,
      body: r.body,
      attempts: r.attempts,
      nextAt: r.next_at,
    }));
  }

  async outboxDelivered(id: number, nowMs: number): Promise<void> {
    await this.run(
      'outbox-delivered',
      'UPDATE outbox SET delivered_at = $1, last_error = NULL WHERE id = $2',
      [nowMs, id],
    );
  }

  async outboxRetry(id: number, attempts: number, nextAtMs: number, error: string): Promise<void> {
    await this.run(
      'outbox-retry',
      'UPDATE outbox SET attempts = $1, next_at = $2, last_error = $3 WHERE id = $4',
      [attempts, nextAtMs, error.slice(0, 500), id],
    );
  }

  async insertCsipEvent(row: CsipEventRow, now: number): Promise<boolean> {
    await this.lock(row.csi);
    const r = await this.run(
      'insert-csip',
      'INSERT INTO csip_events (id, csi, kind, at, json, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING',
      [row.id, row.csi, row.kind, row.at, row.json, now],
    );
    return r.rowCount === 1;
  }

  async csipCutoff(csi: string): Promise<number | null> {
    await this.lock(csi);
    const [r] = await this.rows<{ at: number | null }>(
      'csip-cutoff',
      "SELECT MAX(at) AS at FROM csip_events WHERE csi = $1 AND kind IN ('disconnected', 'reassigned')",
      [csi],
    );
    return r?.at ?? null;
  }

  // transparency log

  logHead(): Promise<LogHead> {
    return log.logHead(this.run, true);
  }

  appendLog(leaves: readonly LogLeafRow[], nodes: readonly LogNode[], head: LogHead): Promise<void> {
    return log.appendLog(this.run, leaves, nodes, head);
  }

  insertCheckpoint(row: Omit<LogCheckpointRow, 'cosignatures'>): Promise<boolean> {
    return log.insertCheckpoint(this.run, row);
  }

  addCosignature(size: number, witness: string, line: string, at: number): Promise<void> {
    return log.addCosignature(this.run, size, witness, line, at);
  }

  /** As a witness, one peer's log at a time: its last checkpoint is read, compared, replaced. */
  async witnessed(dp: string): Promise<WitnessedRow | undefined> {
    await this.lock(dp, LockSpace.Witness);
    return log.witnessed(this.run, dp);
  }

  async setWitnessed(row: WitnessedRow): Promise<void> {
    await this.lock(row.dp, LockSpace.Witness);
    await log.setWitnessed(this.run, row);
  }

  insertLogFork(row: Omit<LogForkRow, 'id'>): Promise<void> {
    return log.insertLogFork(this.run, row);
  }
}
