import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { mailboxRange } from '../../protocol/identifiers.js';
import type { EntryFrames } from '../../protocol/private.js';
import { sqliteMigrations } from '../migrations/sqlite.js';
import {
  bytesOf,
  type EpochRow,
  epochColumns,
  type MappingRow,
  mappingColumns,
  type ServedRow,
  servedColumns,
  servedColumnsWithoutJson,
  toChallenge,
  toEpoch,
  toMapping,
  toServed,
} from '../rows.js';
import type {
  Challenge,
  HolderKey,
  LogCheckpointRow,
  LogForkRow,
  LogHead,
  LogLeafRow,
  OprfEpoch,
  PrivateEntry,
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
  WitnessedRow,
} from '../store.js';
import { Checkpointer } from './checkpointer.js';
import { GroupCommit } from './group-commit.js';
import { SqliteLogReader, sqliteLogTx } from './sqlite-log.js';

export interface SqliteStoreOptions {
  /** File path, or ':temp:' for a throwaway database in the temp folder. */
  path: string;
  /**
   * 'normal' (default): in WAL mode a commit survives a crash or kill -9 of the process, not a
   * power loss. 'full' fsyncs every commit and survives both, at a large cost in write rate.
   */
  synchronous?: 'normal' | 'full';
  /** Bytes of the file the read connection maps (default 1 GiB). */
  mmapBytes?: number;
  /** Bytes of the read connection's page cache (default 64 MiB). */
  cacheBytes?: number;
}

/** SQLite allows 32,766 bound values; lookups are far smaller, but stay well below. */
const maxIn = 500;

/**
 * The embedded store: better-sqlite3 in WAL mode. One connection writes (transactions run one at a
 * time, behind a queue); a second connection reads, so a lookup never sees an uncommitted write.
 */
export class SqliteStore implements Store {
  readonly backend = 'sqlite';
  private readonly writer: Database.Database;
  private readonly reader: Database.Database;
  private readonly group: GroupCommit;
  private readonly checkpointer: Checkpointer;
  /** Active-mapping reads by CSI count: positive keys select every column, negative the served ones. */
  private readonly readActive = new Map<string, Database.Statement<unknown[], MappingRow | ServedRow>>();
  private readonly readById: Database.Statement<[string], MappingRow>;
  private readonly readBucket: Database.Statement<
    [number, number, number],
    { n: number; frames: Buffer | null }
  >;
  private closed = false;
  /** Transparency-log reads (committed state). */
  private readonly log: SqliteLogReader;
  private readonly tempDir: string | undefined;

  constructor(opts: SqliteStoreOptions) {
    // ':temp:' gives a throwaway file, removed on close: WAL needs a file, and tests want the real thing.
    this.tempDir = opts.path === ':temp:' ? mkdtempSync(join(tmpdir(), 'mimi-store-')) : undefined;
    const path = this.tempDir === undefined ? opts.path : join(this.tempDir, 'store.db');
    this.writer = new Database(path);
    this.writer.pragma('journal_mode = WAL');
    this.writer.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.writer.pragma('busy_timeout = 5000');
    this.writer.pragma('foreign_keys = ON');
    this.migrate();
    this.reader = new Database(path, { readonly: true });
    this.reader.pragma('busy_timeout = 5000');
    // Lookups read a few pages per CSI at random: keep the hot part of the file in memory.
    this.reader.pragma(`cache_size = -${Math.floor((opts.cacheBytes ?? 64 * 2 ** 20) / 1024)}`);
    this.reader.pragma(`mmap_size = ${Math.floor(opts.mmapBytes ?? 2 ** 30)}`);
    this.readById = this.reader.prepare(`SELECT ${mappingColumns} FROM mappings WHERE id = ?`);
    // One row per bucket, entries framed as on the wire (tag | u16 length | payload) in tag order.
    // SQLite's || and group_concat treat BLOBs as text with their bytes unchanged in a UTF-8
    // database (every database here is), and the CAST gives those bytes back as a BLOB.
    this.readBucket = this.reader.prepare(
      `SELECT count(*) AS n,
         CAST(group_concat(tag || unhex(printf('%04X', length(payload))) || payload, '' ORDER BY tag) AS BLOB) AS frames
       FROM private_index WHERE epoch = ? AND bucket_key BETWEEN ? AND ?`,
    );
    this.log = new SqliteLogReader(this.reader);
    this.checkpointer = new Checkpointer(this.writer, path);
    this.group = new GroupCommit(this.writer, this.makeTx(), (n) => this.checkpointer.committed(n));
  }

  /** Applies every migration newer than the database, each in its own transaction. */
  private migrate(): void {
    this.writer.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const row = this.writer.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as {
      v: number | null;
    };
    const current = row.v ?? 0;
    for (const m of sqliteMigrations) {
      if (m.version <= current) continue;
      this.writer.transaction(() => {
        this.writer.exec(m.sql);
        this.writer
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, Math.floor(Date.now() / 1000));
      })();
    }
  }

  schemaVersion(): number {
    const row = this.writer.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as {
      v: number | null;
    };
    return row.v ?? 0;
  }

  private makeTx(): StoreTx {
    const db = this.writer;
    const q = {
      live: db.prepare<[string], MappingRow>(
        `SELECT ${mappingColumns} FROM mappings WHERE csi = ? AND state IN ('active', 'contested') ORDER BY accepted_at, id`,
      ),
      byId: db.prepare<[string], MappingRow>(`SELECT ${mappingColumns} FROM mappings WHERE id = ?`),
      byBody: db.prepare<[string], MappingRow>(
        `SELECT ${mappingColumns} FROM mappings WHERE body_digest = ?`,
      ),
      insert: db.prepare(
        `INSERT INTO mappings (${mappingColumns}, updated_at) VALUES (@id, @csi, @holderGroup, @holderKey, @msp, @tag, @priority, @optOut, @level, @state, @acceptedAt, @expiresAt, @contestDeadline, @bodyDigest, @json, @acceptedAt)`,
      ),
      setState: db.prepare(
        'UPDATE mappings SET state = ?, contest_deadline = ?, updated_at = ? WHERE id = ?',
      ),
      holderKey: db.prepare<[string, string], { csi: string; key: string; grp: string; retired: number }>(
        'SELECT csi, key, grp, retired FROM holder_keys WHERE csi = ? AND key = ?',
      ),
      insertHolderKey: db.prepare('INSERT INTO holder_keys (csi, key, grp, retired) VALUES (?, ?, ?, ?)'),
      retire: db.prepare('UPDATE holder_keys SET retired = 1 WHERE csi = ? AND key = ?'),
      seen: db.prepare('INSERT OR IGNORE INTO seen_requests (id, expires_at) VALUES (?, ?)'),
      purgeSeen: db.prepare('DELETE FROM seen_requests WHERE expires_at < ?'),
      spend: db.prepare('INSERT OR IGNORE INTO spent_tokens (key_id, nonce, expires_at) VALUES (?, ?, ?)'),
      purgeSpent: db.prepare('DELETE FROM spent_tokens WHERE expires_at < ?'),
      due: db.prepare<[number], { csi: string }>(
        "SELECT DISTINCT csi FROM mappings WHERE state = 'contested' AND contest_deadline <= ?",
      ),
      insertChallenge: db.prepare(
        'INSERT INTO challenges (id, csi, holder_key, method, code_hash, created_at, expires_at, attempts, state) VALUES (@id, @csi, @holderKey, @method, @codeHash, @createdAt, @expiresAt, @attempts, @state)',
      ),
      challenge: db.prepare<[string], Record<string, string | number>>(
        'SELECT * FROM challenges WHERE id = ?',
      ),
      updateChallenge: db.prepare('UPDATE challenges SET attempts = ?, state = ? WHERE id = ?'),
      countChallenges: db.prepare<[string, number], { n: number }>(
        'SELECT COUNT(*) AS n FROM challenges WHERE csi = ? AND created_at >= ?',
      ),
      // Byte order (BINARY collation): the range is every CSI starting with `mailto:<base>+`.
      countMailboxChallenges: db.prepare<[string, string, string, number, string, number], { n: number }>(
        'SELECT COUNT(*) AS n FROM challenges WHERE (csi = ? OR (csi >= ? AND csi < ? AND substr(csi, -?) = ?)) AND created_at >= ?',
      ),
      epochs: db.prepare<[], EpochRow>('SELECT * FROM oprf_epochs ORDER BY id'),
      insertEpoch: db.prepare(
        'INSERT INTO oprf_epochs (id, state, sealed_key, public_key, bucket_bits, pad_to, dummy_length, min_bucket, build_cursor, created_at, activated_at, retire_at) VALUES (@id, @state, @sealedKey, @publicKey, @bucketBits, @padTo, @dummyLength, @minBucket, @buildCursor, @createdAt, @activatedAt, @retireAt)',
      ),
      putEntry: db.prepare(
        'INSERT INTO private_index (epoch, bucket_key, tag, payload, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (epoch, bucket_key, tag) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at',
      ),
      deleteEntry: db.prepare('DELETE FROM private_index WHERE epoch = ? AND bucket_key = ? AND tag = ?'),
      dropEntries: db.prepare(
        'DELETE FROM private_index WHERE (epoch, bucket_key, tag) IN (SELECT epoch, bucket_key, tag FROM private_index WHERE epoch = ? LIMIT ?)',
      ),
      servedAfter: db.prepare<[string, number, number], { csi: string }>(
        "SELECT DISTINCT csi FROM mappings WHERE csi > ? AND state = 'active' AND expires_at > ? ORDER BY csi LIMIT ?",
      ),
      expiring: db.prepare<[number, number], { csi: string }>(
        "SELECT DISTINCT csi FROM mappings WHERE state = 'active' AND expires_at > ? AND expires_at <= ?",
      ),
    };
    const fed = {
      enqueue: db.prepare(
        'INSERT OR IGNORE INTO outbox (target, event_id, body, next_at, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      due: db.prepare<
        [number, number],
        { id: number; target: string; event_id: string; body: string; attempts: number; next_at: number }
      >(
        'SELECT id, target, event_id, body, attempts, next_at FROM outbox WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?',
      ),
      delivered: db.prepare('UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ?'),
      retry: db.prepare('UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?'),
      csipInsert: db.prepare(
        'INSERT OR IGNORE INTO csip_events (id, csi, kind, at, json, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      csipCutoff: db.prepare<[string], { at: number | null }>(
        "SELECT MAX(at) AS at FROM csip_events WHERE csi = ? AND kind IN ('disconnected', 'reassigned')",
      ),
    };
    return {
      liveMappings: async (csi) => q.live.all(csi).map(toMapping),
      mapping: async (id) => {
        const r = q.byId.get(id);
        return r === undefined ? undefined : toMapping(r);
      },
      mappingByBodyDigest: async (d) => {
        const r = q.byBody.get(d);
        return r === undefined ? undefined : toMapping(r);
      },
      insertMapping: async (m) => {
        q.insert.run({ ...m, optOut: m.optOut ? 1 : 0 });
      },
      setState: async (ids, state, now, contestDeadline) => {
        const deadline = state === 'contested' ? (contestDeadline ?? null) : null;
        for (const id of ids) q.setState.run(state, deadline, now, id);
      },
      holderKey: async (csi, key) => {
        const r = q.holderKey.get(csi, key);
        return r === undefined
          ? undefined
          : { csi: r.csi, key: r.key, group: r.grp, retired: r.retired === 1 };
      },
      insertHolderKey: async (k: HolderKey) => {
        q.insertHolderKey.run(k.csi, k.key, k.group, k.retired ? 1 : 0);
      },
      retireHolderKey: async (csi, key) => {
        q.retire.run(csi, key);
      },
      rememberRequest: async (id, expiresAt) => {
        q.purgeSeen.run(Math.floor(Date.now() / 1000));
        return q.seen.run(id, expiresAt).changes === 1;
      },
      spendToken: async (keyId, nonce, keepUntil) => {
        q.purgeSpent.run(Math.floor(Date.now() / 1000));
        return q.spend.run(keyId, nonce, keepUntil).changes === 1;
      },
      csisWithDueContests: async (now) => q.due.all(now).map((r) => r.csi),
      insertChallenge: async (c: Challenge) => {
        q.insertChallenge.run(c);
      },
      challenge: async (id) => {
        const r = q.challenge.get(id);
        if (r === undefined) return undefined;
        return toChallenge(r);
      },
      updateChallenge: async (id, attempts, state) => {
        q.updateChallenge.run(attempts, state, id);
      },
      countRecentChallenges: async (csi, since) => q.countChallenges.get(csi, since)?.n ?? 0,
      countRecentMailboxChallenges: async (csi, since) => {
        const r = mailboxRange(csi);
        return (
          q.countMailboxChallenges.get(r.mailbox, r.plusFrom, r.plusTo, r.suffix.length, r.suffix, since)
            ?.n ?? 0
        );
      },
      oprfEpochs: async () => q.epochs.all().map(toEpoch),
      insertOprfEpoch: async (e: OprfEpoch) => {
        q.insertEpoch.run({ ...e, sealedKey: bytesOf(e.sealedKey), publicKey: bytesOf(e.publicKey) });
      },
      updateOprfEpoch: async (id, patch) => {
        const sets: string[] = [];
        const values: (string | number | null)[] = [];
        for (const [field, value] of Object.entries(patch)) {
          const column = epochColumns[field];
          if (column === undefined || value === undefined) continue;
          sets.push(`${column} = ?`);
          values.push(value as string | number | null);
        }
        if (sets.length > 0)
          db.prepare(`UPDATE oprf_epochs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      },
      putPrivateEntry: async (epoch, e: PrivateEntry, now) => {
        q.putEntry.run(epoch, e.bucketKey, bytesOf(e.tag), bytesOf(e.payload), now);
      },
      deletePrivateEntry: async (epoch, e) => {
        q.deleteEntry.run(epoch, e.bucketKey, bytesOf(e.tag));
      },
      dropPrivateEntries: async (epoch, limit) => q.dropEntries.run(epoch, limit).changes,
      servedCsisAfter: async (after, limit, now) =>
        q.servedAfter.all(after ?? '', now, limit).map((r) => r.csi),
      csisExpiringBetween: async (from, to) => q.expiring.all(from, to).map((r) => r.csi),
      enqueue: async (items, nowMs) => {
        for (const it of items) fed.enqueue.run(it.target, it.eventId, it.body, nowMs, nowMs);
      },
      dueOutbox: async (nowMs, limit) =>
        fed.due.all(nowMs, limit).map((r) => ({
          id: r.id,
          target: r.target,
          eventId: r.event_id,
          body: r.body,
          attempts: r.attempts,
          nextAt: r.next_at,
        })),
      outboxDelivered: async (id, nowMs) => {
        fed.delivered.run(nowMs, id);
      },
      outboxRetry: async (id, attempts, nextAtMs, error) => {
        fed.retry.run(attempts, nextAtMs, error.slice(0, 500), id);
      },
      insertCsipEvent: async (row, now) =>
        fed.csipInsert.run(row.id, row.csi, row.kind, row.at, row.json, now).changes === 1,
      csipCutoff: async (csi) => fed.csipCutoff.get(csi)?.at ?? null,
      ...sqliteLogTx(db),
    };
  }

  /** Group commit (group-commit.ts): writes queued together share one transaction, each in a savepoint. */
  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.group.write(fn);
  }

  async activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>> {
    const out = new Map<string, StoredMapping[]>();
    for (const csi of csis) out.set(csi, []);
    for (const r of this.readMany('full', csis, now)) out.get(r.csi)?.push(toMapping(r as MappingRow));
    return out;
  }

  async servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    const out = new Map<string, ServedStoredMapping[]>();
    for (const csi of csis) out.set(csi, []);
    const kind = opts?.json === false ? 'served-bare' : 'served';
    for (const r of this.readMany(kind, csis, now) as ServedRow[]) {
      out.get(r.csi)?.push(toServed(r));
    }
    return out;
  }

  /** Active, unexpired rows of every CSI in `csis`, in one statement (one per chunk of maxIn). */
  private readMany(kind: ReadKind, csis: readonly string[], now: number): (MappingRow | ServedRow)[] {
    if (csis.length === 1) return this.readStatement(kind, 1).all(csis[0], now);
    const rows: (MappingRow | ServedRow)[] = [];
    for (let at = 0; at < csis.length; at += maxIn) {
      const chunk = csis.slice(at, at + maxIn);
      for (const r of this.readStatement(kind, chunk.length).all(...chunk, now)) rows.push(r);
    }
    return rows;
  }

  private readStatement(kind: ReadKind, n: number): Database.Statement<unknown[], MappingRow | ServedRow> {
    const key = `${kind}:${n}`;
    let stmt = this.readActive.get(key);
    if (stmt === undefined) {
      const columns =
        kind === 'full' ? mappingColumns : kind === 'served' ? servedColumns : servedColumnsWithoutJson;
      const where = n === 1 ? 'csi = ?' : `csi IN (${new Array(n).fill('?').join(',')})`;
      stmt = this.reader.prepare(
        `SELECT ${columns} FROM mappings WHERE ${where} AND state = 'active' AND expires_at > ?`,
      );
      this.readActive.set(key, stmt);
    }
    return stmt;
  }

  async mapping(id: string): Promise<StoredMapping | undefined> {
    const r = this.readById.get(id);
    return r === undefined ? undefined : toMapping(r);
  }

  async outboxDepth(): Promise<Record<string, number>> {
    const rows = this.reader
      .prepare('SELECT target, COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL GROUP BY target')
      .all() as { target: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.target, r.n]));
  }

  async stats(): Promise<{ mappings: number; active: number }> {
    const r = this.reader
      .prepare("SELECT COUNT(*) AS mappings, SUM(state = 'active') AS active FROM mappings")
      .get() as { mappings: number; active: number | null };
    return { mappings: r.mappings, active: r.active ?? 0 };
  }

  async oprfEpochs(): Promise<OprfEpoch[]> {
    return (this.reader.prepare('SELECT * FROM oprf_epochs ORDER BY id').all() as EpochRow[]).map(toEpoch);
  }

  async privateBucket(epoch: number, fromKey: number, toKey: number): Promise<EntryFrames> {
    const { n, frames } = this.readBucket.get(epoch, fromKey, toKey)!;
    return { count: n, bytes: frames ?? new Uint8Array(0) };
  }

  async logHead(): Promise<LogHead> {
    return this.log.head();
  }

  async logLeaves(start: number, end: number): Promise<LogLeafRow[]> {
    return this.log.leaves(start, end);
  }

  async logLeafIndex(hash: Uint8Array): Promise<number | undefined> {
    return this.log.leafIndex(hash);
  }

  async logSubtrees(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]> {
    return this.log.subtrees(ranges);
  }

  async latestCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return this.log.latest();
  }

  async latestCosignedCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return this.log.latestCosigned();
  }

  async checkpointAt(size: number): Promise<LogCheckpointRow | undefined> {
    return this.log.at(size);
  }

  async witnessedLogs(): Promise<WitnessedRow[]> {
    return this.log.witnessed();
  }

  async logForks(): Promise<LogForkRow[]> {
    return this.log.forks();
  }

  async privateIndexStats(
    epoch: number,
    bits: number,
  ): Promise<{ counts: number[]; modalPayloadLength: number }> {
    const counts = new Array<number>(2 ** bits).fill(0);
    const rows = this.reader
      .prepare('SELECT bucket_key >> ? AS b, COUNT(*) AS n FROM private_index WHERE epoch = ? GROUP BY b')
      .all(32 - bits, epoch) as { b: number; n: number }[];
    for (const r of rows) counts[r.b] = r.n;
    const mode = this.reader
      .prepare(
        'SELECT length(payload) AS len, COUNT(*) AS n FROM private_index WHERE epoch = ? GROUP BY len ORDER BY n DESC, len LIMIT 1',
      )
      .get(epoch) as { len: number } | undefined;
    return { counts, modalPayloadLength: mode?.len ?? 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.group.close();
    await this.checkpointer.close();
    this.reader.close();
    this.writer.close();
    if (this.tempDir !== undefined) rmSync(this.tempDir, { recursive: true, force: true });
  }
}

/** Which columns a read of active rows takes: all, what an answer needs, or that without the record. */
type ReadKind = 'full' | 'served' | 'served-bare';
