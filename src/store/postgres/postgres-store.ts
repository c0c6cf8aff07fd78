import pg from 'pg';
import type { EntryFrames } from '../../protocol/private.js';
import { isConnectionError, isRace, StoreClosed, storeErrorOf } from '../errors.js';
import type { LogReads } from '../log-reads.js';
import { postgresMigrations } from '../migrations/postgres.js';
import {
  byCsi,
  type EpochRow,
  epochSelect,
  type MappingRow,
  mappingColumns,
  servedColumns,
  servedColumnsWithoutJson,
  toEpoch,
  toMapping,
  toServed,
} from '../rows.js';
import type {
  OprfEpoch,
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
} from '../store.js';
import { LockSpace } from './locks.js';
import { Pipeline } from './pipeline.js';
import { postgresLogReads, type Run } from './postgres-log.js';
import { postgresTx } from './postgres-tx.js';

export interface PostgresStoreOptions {
  /**
   * `postgres://user@host:port/database`. A password may be left out of the URL and given in
   * PGPASSWORD or ~/.pgpass instead, which pg reads.
   */
  url: string;
  /**
   * Connections this node keeps open at most. This and the two numbers below come from the
   * resolved config (`configDefaults.store.postgres`).
   */
  poolSize: number;
  /** Schema holding the tables, created if missing (default: the server's search_path, normally public). */
  schema?: string;
  /** How long a request waits for a connection before failing with store-unavailable. */
  connectionTimeoutMs: number;
  /** Times one write runs when it loses a race to another transaction; see write(). */
  maxWriteAttempts: number;
  /**
   * Server settings for this node's sessions, e.g. `{ statement_timeout: '10s', lock_timeout: '5s' }`.
   * Names are lower-case words; values letters, digits and `_.:-`.
   */
  settings?: Readonly<Record<string, string | number>>;
}

type Row = Record<string, unknown>;

/** int8 (counts, times, bucket keys) as a JS number: every value stored here is below 2^53. */
const int8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8 && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

// The log's reads are assigned in the constructor (postgres-log.ts); this declares them.
export interface PostgresStore extends LogReads {}
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
 * `FOR UPDATE`, so two nodes cannot both count one attempt. An accept looks for an earlier
 * submission of its body in the same statement as the CSI's state (csiState), after the lock, so
 * a second submission of one body waits for the first and finds it; the unique index on the body
 * digest stays as the backstop: a loser would get 23505 and run again (isRace in ../errors.ts
 * lists the races).
 * SERIALIZABLE would give the same guarantee, but its predicate locks make unrelated writes
 * (the replay-id purge, outbox scans, index ranges) abort each other under load; here the only
 * retries are the rare real races isRace lists.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above declares the log reads assigned in the constructor
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
    this.maxAttempts = opts.maxWriteAttempts;
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
      max: opts.poolSize,
      connectionTimeoutMillis: opts.connectionTimeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'mimi-discovery',
      // A write's statements are sent without waiting for the answers nobody needs (pipeline.ts).
      pipeline: true,
      types,
      ...(options.length === 0 ? {} : { options: options.join(' ') }),
    });
    // An idle connection that dies (server restart) is dropped by the pool; the next request
    // opens a new one. Without a listener the error would crash the process.
    this.pool.on('error', () => undefined);
    Object.assign(this, postgresLogReads(this.run));
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
   * safe because every write is idempotent by body digest or request id. The statements not
   * awaited (pipeline.ts) travel with COMMIT: a connection lost then is lost during COMMIT.
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
      const pipe = new Pipeline(client);
      try {
        pipe.send(undefined, 'BEGIN');
        const value = await fn(postgresTx(pipe));
        committing = await pipe.commit();
        await pipe.settle();
        return value;
      } catch (thrown) {
        // A statement not awaited that failed before `fn` threw is what the write failed of, as
        // when every statement was awaited (fn never got past it then).
        const err = await pipe.firstFailure(thrown);
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
  private readonly run: Run = async (name, text, values) => {
    try {
      return await this.pool.query(name === undefined ? { text, values } : { name, text, values });
    } catch (err) {
      throw storeErrorOf(err);
    }
  };

  async activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>> {
    return byCsi(csis, await this.readActive(mappingColumns, csis, now), toMapping);
  }

  async servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    const columns = opts?.json === false ? servedColumnsWithoutJson : servedColumns;
    return byCsi(csis, await this.readActive(columns, csis, now), toServed);
  }

  /** Active, unexpired rows of every CSI in `csis`, in one statement. */
  private async readActive(columns: string, csis: readonly string[], now: number): Promise<MappingRow[]> {
    if (csis.length === 0) return [];
    return this.query<MappingRow & Row>(
      `SELECT ${columns} FROM mappings WHERE csi = ANY($1::text[]) AND state = 'active' AND expires_at > $2 ORDER BY csi, accepted_at, id`,
      [csis, now],
    );
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
    // One row per bucket, entries framed as on the wire (tag | u16 length | payload), here in tag
    // order (the contract asks none: the DP sorts them with the dummies).
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

  /** Waits for the connections in use to be released, then closes them all. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
