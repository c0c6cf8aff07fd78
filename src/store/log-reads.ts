import {
  bytesOf,
  type CheckpointDbRow,
  checkpointColumns,
  type ForkDbRow,
  forkColumns,
  type LeafDbRow,
  toCheckpoint,
  toFork,
  toHead,
  toLeaf,
  toWitnessed,
  type WitnessedDbRow,
  witnessedColumns,
} from './rows.js';
import type { LogCheckpointRow, Store } from './store.js';

/**
 * The transparency log's reads of committed state (R3), declared once: the same statements on
 * both backends (`?` placeholders; PostgreSQL's get `$n`), the same row codecs (rows.ts). Each
 * backend gives a runner over its read connection (SQLite: statements prepared once; PostgreSQL:
 * named statements on the pool) and its own subtree read and leaves by index, the reads whose
 * SQL differs (a list of values: SQLite's json_each, PostgreSQL's arrays).
 */
export type LogReads = Pick<
  Store,
  | 'logHead'
  | 'logLeaves'
  | 'logLeavesAt'
  | 'logLeafIndex'
  | 'logSubtrees'
  | 'latestCheckpoint'
  | 'latestCosignedCheckpoint'
  | 'checkpointAt'
  | 'witnessedLogs'
  | 'logForks'
>;

export const logReadSql = {
  head: 'SELECT size, edge FROM log_head WHERE id = 1',
  leaves: 'SELECT idx, hash, data, time FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
  leafIndex: 'SELECT idx FROM log_leaves WHERE hash = ? ORDER BY idx LIMIT 1',
  latest: `SELECT ${checkpointColumns} FROM log_checkpoints ORDER BY size DESC LIMIT 1`,
  latestCosigned: `SELECT ${checkpointColumns} FROM log_checkpoints WHERE cosigned > 0 ORDER BY size DESC LIMIT 1`,
  at: `SELECT ${checkpointColumns} FROM log_checkpoints WHERE size = ?`,
  cosignatures: 'SELECT line FROM log_cosignatures WHERE size = ? ORDER BY at, witness',
  witnessed: `SELECT ${witnessedColumns} FROM log_witnessed ORDER BY dp`,
  forks: `SELECT ${forkColumns} FROM log_forks ORDER BY id`,
} as const;
export type LogRead = keyof typeof logReadSql;

/** Runs one of logReadSql on a backend's read connection; resolves to its rows. */
export type RunLogRead = (read: LogRead, values: unknown[]) => Promise<unknown[]> | unknown[];

/** The leaf columns a read of leaves by index takes (toLeaf decodes them). */
export const leafColumns = 'idx, hash, data, time';

export function logReads(
  run: RunLogRead,
  logSubtrees: LogReads['logSubtrees'],
  leavesAt: (indexes: readonly number[]) => Promise<unknown[]> | unknown[],
): LogReads {
  const rows = async <R>(read: LogRead, values: unknown[] = []) => (await run(read, values)) as R[];
  const checkpoint = async (found: CheckpointDbRow[]): Promise<LogCheckpointRow | undefined> => {
    const r = found[0];
    if (r === undefined) return undefined;
    const lines = await rows<{ line: string }>('cosignatures', [r.size]);
    return toCheckpoint(
      r,
      lines.map((c) => c.line),
    );
  };
  return {
    logHead: async () => toHead((await rows<{ size: number; edge: Buffer }>('head'))[0]),
    logLeaves: async (start, end) => (await rows<LeafDbRow>('leaves', [start, end])).map(toLeaf),
    logLeafIndex: async (hash) => (await rows<{ idx: number }>('leafIndex', [bytesOf(hash)]))[0]?.idx,
    // One index (a single lookup): the range read, which needs no list parsed.
    logLeavesAt: async (indexes) =>
      indexes.length === 0
        ? []
        : indexes.length === 1
          ? (await rows<LeafDbRow>('leaves', [indexes[0], indexes[0]! + 1])).map(toLeaf)
          : ((await leavesAt(indexes)) as LeafDbRow[]).map(toLeaf),
    logSubtrees,
    latestCheckpoint: async () => checkpoint(await rows('latest')),
    latestCosignedCheckpoint: async () => checkpoint(await rows('latestCosigned')),
    checkpointAt: async (size) => checkpoint(await rows('at', [size])),
    witnessedLogs: async () => (await rows<WitnessedDbRow>('witnessed')).map(toWitnessed),
    logForks: async () => (await rows<ForkDbRow>('forks')).map(toFork),
  };
}
