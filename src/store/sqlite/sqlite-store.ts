import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EntryFrames } from '../../protocol/private.js';
import type { LogReads } from '../log-reads.js';
import { sqliteMigrations } from '../migrations/sqlite.js';
import {
  byCsi,
  type EpochRow,
  type MappingRow,
  mappingColumns,
  type ServedRow,
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
import { Checkpointer } from './checkpointer.js';
import { GroupCommit } from './group-commit.js';
import { sqliteLogReads } from './sqlite-log.js';
import { sqliteTx } from './sqlite-tx.js';

export interface SqliteStoreOptions {
  /** File path, or ':temp:' for a throwaway database in the temp folder. */
  path: string;
  /**
   * 'normal': in WAL mode a commit survives a crash or kill -9 of the process, not a power loss.
   * 'full' fsyncs every commit and survives both, at a large cost in write rate.
   * This and the two below come from the resolved config (`configDefaults.store.sqlite`).
   */
  synchronous: 'normal' | 'full';
  /** Bytes of the file the read connection maps (0: none; mapped pages count in RSS). */
  mmapBytes: number;
  /** Bytes of the read connection's page cache. */
  cacheBytes: number;
}

/** SQLite allows 32,766 bound values; lookups are far smaller, but stay well below. */
const maxIn = 500;

// The log's reads are assigned in the constructor (sqlite-log.ts); this declares them.
export interface SqliteStore extends LogReads {}
/**
 * The embedded store: better-sqlite3 in WAL mode. One connection writes (transactions run one at a
 * time, behind a queue); a second connection reads, so a lookup never sees an uncommitted write.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above declares the log reads assigned in the constructor
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
    this.reader.pragma(`cache_size = -${Math.floor(opts.cacheBytes / 1024)}`);
    this.reader.pragma(`mmap_size = ${Math.floor(opts.mmapBytes)}`);
    this.readById = this.reader.prepare(`SELECT ${mappingColumns} FROM mappings WHERE id = ?`);
    // One row per bucket, entries framed as on the wire (tag | u16 length | payload) in key order:
    // the DP sorts them by tag with the dummies (an ORDER BY here would sort a copy of each framed
    // entry, more than doubling the read's cost). SQLite's || and group_concat treat BLOBs as text
    // with their bytes unchanged in a UTF-8 database (every database here is), and the CAST gives
    // those bytes back as a BLOB.
    this.readBucket = this.reader.prepare(
      `SELECT count(*) AS n,
         CAST(group_concat(tag || unhex(printf('%04X', length(payload))) || payload, '') AS BLOB) AS frames
       FROM private_index WHERE epoch = ? AND bucket_key BETWEEN ? AND ?`,
    );
    Object.assign(this, sqliteLogReads(this.reader));
    this.checkpointer = new Checkpointer(this.writer, path);
    this.group = new GroupCommit(this.writer, sqliteTx(this.writer), (n) => this.checkpointer.committed(n));
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

  /** Group commit (group-commit.ts): writes queued together share one transaction, each in a savepoint. */
  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.group.write(fn);
  }

  async activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>> {
    return byCsi(csis, this.readMany('full', csis, now) as MappingRow[], toMapping);
  }

  async servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    const kind = opts?.json === false ? 'served-bare' : 'served';
    return byCsi(csis, this.readMany(kind, csis, now) as ServedRow[], toServed);
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
