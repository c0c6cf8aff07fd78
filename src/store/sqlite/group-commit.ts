import type Database from 'better-sqlite3';
import { conflictOf, StoreClosed } from '../errors.js';
import type { StoreTx } from '../store.js';

interface PendingWrite {
  fn: (tx: StoreTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

interface Settled {
  w: PendingWrite;
  ok: boolean;
  value: unknown;
}

/** Nothing in the group landed: each caller gets its own error, or the one that undid its write. */
function failAll(settled: readonly Settled[], err: unknown): void {
  for (const s of settled) s.w.reject(s.ok ? err : conflictOf(s.value));
}

/** At most this many writes share one transaction (bounds the latency of the last one). */
const maxGroup = 256;

/**
 * Group commit on one SQLite connection: writes queued while the event loop was busy run
 * together, in order, in one BEGIN IMMEDIATE ... COMMIT, each inside its own SAVEPOINT. A write
 * that throws rolls back to its savepoint, so it undoes only its own work and rejects only its
 * own caller; the others see exactly the state they would have seen one transaction at a time.
 * Every caller is settled only after the COMMIT, so an acknowledged write is as durable as
 * before (kill -9 safe).
 */
export class GroupCommit {
  private readonly pending: PendingWrite[] = [];
  private scheduled = false;
  private draining: Promise<void> | undefined;
  private closed = false;
  /** Transaction control, prepared once (exec would compile it on every write). */
  private readonly control: Record<
    'begin' | 'commit' | 'savepoint' | 'release' | 'rollbackTo',
    Database.Statement
  >;

  constructor(
    private readonly db: Database.Database,
    private readonly tx: StoreTx,
    /** Called after each COMMIT with the number of writes it settled. */
    private readonly committed: (writes: number) => void,
  ) {
    const control = (sql: string) => db.prepare(sql);
    this.control = {
      begin: control('BEGIN IMMEDIATE'),
      commit: control('COMMIT'),
      savepoint: control('SAVEPOINT w'),
      release: control('RELEASE w'),
      rollbackTo: control('ROLLBACK TO w'),
    };
  }

  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** The group in flight finishes; writes still queued are refused, as later ones are. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining !== undefined || this.scheduled) {
      await (this.draining ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.draining !== undefined || this.scheduled) return;
    this.scheduled = true;
    // After the current I/O phase: every request read in it gets to queue its write first.
    setImmediate(() => {
      this.scheduled = false;
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
        // Callers settled by the last group may have queued more before this ran.
        if (this.pending.length > 0) this.schedule();
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      if (this.closed) {
        for (const w of this.pending.splice(0)) w.reject(new StoreClosed());
        return;
      }
      await this.commitGroup();
    }
  }

  /** One transaction over as many queued writes as are waiting (up to maxGroup). */
  private async commitGroup(): Promise<void> {
    const db = this.db;
    const settled: Settled[] = [];
    try {
      this.control.begin.run();
    } catch (err) {
      for (const w of this.pending.splice(0, maxGroup)) w.reject(err);
      return;
    }
    while (this.pending.length > 0 && settled.length < maxGroup && !this.closed) {
      const w = this.pending.shift()!;
      let inSavepoint = false;
      try {
        this.control.savepoint.run();
        inSavepoint = true;
        const value = await w.fn(this.tx);
        this.control.release.run();
        settled.push({ w, ok: true, value });
      } catch (err) {
        if (db.inTransaction) {
          if (inSavepoint) {
            try {
              this.control.rollbackTo.run();
              this.control.release.run();
            } catch (rollbackErr) {
              // The transaction is unusable: nothing in it can be committed.
              if (db.inTransaction) db.exec('ROLLBACK');
              w.reject(conflictOf(err));
              failAll(settled, rollbackErr);
              return;
            }
          }
          settled.push({ w, ok: false, value: err });
        } else {
          // SQLite rolled the whole transaction back (I/O error, full disk): the writes before
          // this one are lost with it, so their callers must not be told they landed.
          w.reject(conflictOf(err));
          failAll(settled, err);
          return;
        }
      }
    }
    try {
      this.control.commit.run();
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      failAll(settled, err);
      return;
    }
    for (const s of settled) {
      if (s.ok) s.w.resolve(s.value);
      else s.w.reject(conflictOf(s.value));
    }
    this.committed(settled.length);
  }
}
