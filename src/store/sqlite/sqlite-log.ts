import type Database from 'better-sqlite3';
import {
  bytesOf,
  type CheckpointDbRow,
  checkpointColumns,
  type ForkDbRow,
  forkColumns,
  type LeafDbRow,
  nodeId,
  toCheckpoint,
  toFork,
  toHead,
  toLeaf,
  toWitnessed,
  type WitnessedDbRow,
  witnessedColumns,
} from '../rows.js';
import type { LogCheckpointRow, LogForkRow, LogHead, LogLeafRow, WitnessedRow } from '../store.js';

/**
 * The transparency log's reads on SQLite (migration 4), on the read connection (committed state
 * only); its writes are in the write transaction (contract.ts, sqlite-tx.ts).
 */

/** Read side of the log on the read connection. */
export class SqliteLogReader {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      head: db.prepare<[], { size: number; edge: Buffer }>('SELECT size, edge FROM log_head WHERE id = 1'),
      leaves: db.prepare<[number, number], LeafDbRow>(
        'SELECT idx, hash, data, time FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      byHash: db.prepare<[Buffer], { idx: number }>(
        'SELECT idx FROM log_leaves WHERE hash = ? ORDER BY idx LIMIT 1',
      ),
      leafHashRun: db.prepare<[number, number], { hash: Buffer }>(
        'SELECT hash FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      nodeRun: db.prepare<[number, number], { hash: Buffer }>(
        'SELECT hash FROM log_nodes WHERE id >= ? AND id < ? ORDER BY id',
      ),
      latest: db.prepare<[], CheckpointDbRow>(
        `SELECT ${checkpointColumns} FROM log_checkpoints ORDER BY size DESC LIMIT 1`,
      ),
      latestCosigned: db.prepare<[], CheckpointDbRow>(
        `SELECT ${checkpointColumns} FROM log_checkpoints WHERE cosigned > 0 ORDER BY size DESC LIMIT 1`,
      ),
      at: db.prepare<[number], CheckpointDbRow>(
        `SELECT ${checkpointColumns} FROM log_checkpoints WHERE size = ?`,
      ),
      cosignatures: db.prepare<[number], { line: string }>(
        'SELECT line FROM log_cosignatures WHERE size = ? ORDER BY at, witness',
      ),
      witnessed: db.prepare<[], WitnessedDbRow>(`SELECT ${witnessedColumns} FROM log_witnessed ORDER BY dp`),
      forks: db.prepare<[], ForkDbRow>(`SELECT ${forkColumns} FROM log_forks ORDER BY id`),
    };
  }

  head(): LogHead {
    return toHead(this.q.head.get());
  }

  leaves(start: number, end: number): LogLeafRow[] {
    return this.q.leaves.all(start, end).map(toLeaf);
  }

  leafIndex(hash: Uint8Array): number | undefined {
    return this.q.byHash.get(bytesOf(hash))?.idx;
  }

  /**
   * Each range must be complete and aligned; a missing one is an error (the cache is complete).
   * Adjacent ranges of one width (a proof cache's block) are read with one range statement.
   */
  subtrees(ranges: readonly (readonly [number, number])[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < ranges.length; ) {
      const [start, end] = ranges[i]!;
      const n = end - start;
      let j = i + 1;
      while (j < ranges.length && ranges[j]![0] === ranges[j - 1]![1] && ranges[j]![1] - ranges[j]![0] === n)
        j++;
      const count = j - i;
      const rows =
        n === 1
          ? this.q.leafHashRun.all(start, start + count)
          : this.q.nodeRun.all(nodeId(Math.log2(n), start / n), nodeId(Math.log2(n), start / n) + count);
      if (rows.length !== count)
        throw new RangeError(`no stored subtree in [${start}, ${start + count * n})`);
      for (const r of rows) out.push(new Uint8Array(r.hash));
      i = j;
    }
    return out;
  }

  private checkpoint(r: CheckpointDbRow | undefined): LogCheckpointRow | undefined {
    if (r === undefined) return undefined;
    return toCheckpoint(
      r,
      this.q.cosignatures.all(r.size).map((c) => c.line),
    );
  }

  latest(): LogCheckpointRow | undefined {
    return this.checkpoint(this.q.latest.get());
  }

  latestCosigned(): LogCheckpointRow | undefined {
    return this.checkpoint(this.q.latestCosigned.get());
  }

  at(size: number): LogCheckpointRow | undefined {
    return this.checkpoint(this.q.at.get(size));
  }

  witnessed(): WitnessedRow[] {
    return this.q.witnessed.all().map(toWitnessed);
  }

  forks(): LogForkRow[] {
    return this.q.forks.all().map(toFork);
  }
}
