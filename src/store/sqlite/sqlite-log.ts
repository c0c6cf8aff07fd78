import type Database from 'better-sqlite3';
import { type LogRead, type LogReads, leafColumns, logReadSql, logReads } from '../log-reads.js';
import { nodeId } from '../rows.js';

/**
 * The transparency log's reads on SQLite (migration 4), on the read connection (committed state
 * only), every statement prepared once; its writes are in the write transaction (contract.ts,
 * sqlite-tx.ts).
 */
export function sqliteLogReads(db: Database.Database): LogReads {
  const prepared = Object.fromEntries(
    (Object.keys(logReadSql) as LogRead[]).map((read) => [read, db.prepare(logReadSql[read])]),
  ) as Record<LogRead, Database.Statement>;
  const leafHashRun = db.prepare<[number, number], { hash: Buffer }>(
    'SELECT hash FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
  );
  const nodeRun = db.prepare<[number, number], { hash: Buffer }>(
    'SELECT hash FROM log_nodes WHERE id >= ? AND id < ? ORDER BY id',
  );
  /**
   * Each range must be complete and aligned; a missing one is an error (the cache is complete).
   * Adjacent ranges of one width (a proof cache's block) are read with one range statement.
   */
  const subtrees = async (ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]> => {
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
          ? leafHashRun.all(start, start + count)
          : nodeRun.all(nodeId(Math.log2(n), start / n), nodeId(Math.log2(n), start / n) + count);
      if (rows.length !== count)
        throw new RangeError(`no stored subtree in [${start}, ${start + count * n})`);
      for (const r of rows) out.push(new Uint8Array(r.hash));
      i = j;
    }
    return out;
  };
  const leavesAt = db.prepare<[string]>(
    `SELECT ${leafColumns} FROM log_leaves WHERE idx IN (SELECT value FROM json_each(?))`,
  );
  return logReads(
    (read, values) => prepared[read].all(...values),
    subtrees,
    (indexes) => leavesAt.all(JSON.stringify(indexes)),
  );
}
