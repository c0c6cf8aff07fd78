import type pg from 'pg';
import { postgresText } from '../contract.js';
import { type LogRead, type LogReads, leafColumns, logReadSql, logReads } from '../log-reads.js';
import { bytesOf, edgeOf, nodeId } from '../rows.js';
import type { LogHead, LogLeafRow, LogNode } from '../store.js';

/**
 * The transparency log's tables on PostgreSQL (migration 4), as functions over a statement
 * runner: the two writes with logic of their own are sent on a write()'s connection (the others
 * are declared in contract.ts), the reads (../log-reads.ts) run on the pool. Same node id scheme
 * and row codecs as SQLite (../rows.ts).
 */
export type Run = <R extends object>(
  name: string | undefined,
  text: string,
  values: unknown[],
) => Promise<pg.QueryResult<R & Record<string, unknown>>>;

/** Sends a statement of a write without waiting for its answer (pipeline.ts). */
export type Send = (name: string | undefined, text: string, values: unknown[]) => void;

/**
 * One statement for the lot (each statement costs the node CPU, even sent without waiting):
 * the leaves and the completed subtrees inserted, and the head moved, as data-modifying parts of
 * one statement. They touch different tables and none reads another's rows, so running them
 * under one snapshot changes nothing; empty arrays insert nothing.
 */
export function appendLog(
  send: Send,
  leaves: readonly LogLeafRow[],
  nodes: readonly LogNode[],
  head: LogHead,
): void {
  send(
    'log-append',
    `WITH leaves AS (
       INSERT INTO log_leaves (idx, hash, data, time)
       SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[])
     ), nodes AS (
       INSERT INTO log_nodes (id, hash) SELECT * FROM unnest($5::bigint[], $6::bytea[])
       ON CONFLICT (id) DO UPDATE SET hash = EXCLUDED.hash
     )
     UPDATE log_head SET size = $7, edge = $8 WHERE id = 1`,
    [
      leaves.map((l) => l.index),
      leaves.map((l) => bytesOf(l.hash)),
      leaves.map((l) => bytesOf(l.data)),
      leaves.map((l) => l.time),
      nodes.map((n) => nodeId(n.level, n.index)),
      nodes.map((n) => bytesOf(n.hash)),
      head.size,
      edgeOf(head),
    ],
  );
}

export function addCosignature(send: Send, size: number, witness: string, line: string, at: number) {
  send(
    'log-cosign',
    'INSERT INTO log_cosignatures (size, witness, line, at) VALUES ($1, $2, $3, $4) ON CONFLICT (size, witness) DO UPDATE SET line = EXCLUDED.line, at = EXCLUDED.at',
    [size, witness, line, at],
  );
  send(
    'log-cosigned',
    'UPDATE log_checkpoints SET cosigned = (SELECT count(*) FROM log_cosignatures WHERE size = $1) WHERE size = $1',
    [size],
  );
}

// read side (committed state), on the pool: named statements, parsed once per connection

export function postgresLogReads(run: Run): LogReads {
  const texts = Object.fromEntries(
    (Object.keys(logReadSql) as LogRead[]).map((read) => [read, postgresText(logReadSql[read])]),
  ) as Record<LogRead, string>;
  return logReads(
    async (read, values) => (await run(`log-read-${read}`, texts[read], values)).rows,
    (ranges) => logSubtrees(run, ranges),
    async (indexes) =>
      (
        await run('log-leaves-at', `SELECT ${leafColumns} FROM log_leaves WHERE idx = ANY($1::bigint[])`, [
          indexes,
        ])
      ).rows,
  );
}

/** Each range must be complete and aligned; a missing one is an error (the cache is complete). */
async function logSubtrees(run: Run, ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]> {
  const leafIdx: number[] = [];
  const nodeIds: number[] = [];
  const keys = ranges.map(([start, end]) => {
    const n = end - start;
    if (n === 1) {
      leafIdx.push(start);
      return `l${start}`;
    }
    const id = nodeId(Math.log2(n), Math.floor(start / n));
    nodeIds.push(id);
    return `n${id}`;
  });
  const found = new Map<string, Buffer>();
  // Two statements in all, however many ranges a proof needs: leaves by index, nodes by id.
  const read = async (prefix: 'l' | 'n', ids: number[], name: string, table: string, column: string) => {
    if (ids.length === 0) return;
    const { rows } = await run<{ id: number; hash: Buffer }>(
      name,
      `SELECT ${column} AS id, hash FROM ${table} WHERE ${column} = ANY($1::bigint[])`,
      [ids],
    );
    for (const r of rows) found.set(`${prefix}${r.id}`, r.hash);
  };
  await read('l', leafIdx, 'log-leaf-hashes', 'log_leaves', 'idx');
  await read('n', nodeIds, 'log-node-hashes', 'log_nodes', 'id');
  return keys.map((k, i) => {
    const hash = found.get(k);
    if (hash === undefined) {
      const [start, end] = ranges[i]!;
      throw new RangeError(`no stored subtree [${start}, ${end})`);
    }
    return new Uint8Array(hash);
  });
}
