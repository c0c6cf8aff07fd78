import type Database from 'better-sqlite3';
import {
  type OwnTxMethod,
  resultOf,
  type Statement,
  type StatementTxMethod,
  sqliteText,
  statementOf,
  type TxMethod,
  txMethods,
} from '../contract.js';
import {
  bindParams,
  bytesOf,
  edgeOf,
  epochColumns,
  type MappingRow,
  mappingColumns,
  nodeId,
  toMapping,
} from '../rows.js';
import type { StoreTx } from '../store.js';

/**
 * The operations of a SQLite write, on the writer connection: the declared statements
 * (contract.ts), each prepared once, and the methods whose logic is SQLite's own.
 */

type Method = (...a: unknown[]) => Promise<unknown>;

/** One declared statement as a method: prepared here, once. */
function declared(db: Database.Database, s: Statement<TxMethod>): Method {
  const stmt = db.prepare(sqliteText(s.sql));
  const params = s.params as (...a: unknown[]) => readonly unknown[];
  const bind = (a: unknown[]) => bindParams(params(...a), 'int');
  const { kind, row, rows, column, fallback } = resultOf(s);
  switch (kind) {
    case 'all':
      return async (...a) => stmt.all(...bind(a)).map(row);
    case 'rows':
      return async (...a) => rows(stmt.all(...bind(a)));
    case 'first':
      return async (...a) => {
        const r = stmt.get(...bind(a));
        return r === undefined ? undefined : row(r);
      };
    case 'only':
      return async (...a) => row(stmt.get(...bind(a)));
    case 'column':
      return async (...a) => stmt.all(...bind(a)).map((r) => (r as Record<string, unknown>)[column]);
    case 'scalar':
      return async (...a) =>
        (stmt.get(...bind(a)) as Record<string, unknown> | undefined)?.[column] ?? fallback;
    case 'changed':
      return async (...a) => stmt.run(...bind(a)).changes === 1;
    case 'count':
      return async (...a) => stmt.run(...bind(a)).changes;
    case 'none':
      return async (...a) => {
        stmt.run(...bind(a));
      };
  }
}

export function sqliteTx(db: Database.Database): StoreTx {
  const built: Partial<Record<TxMethod, Method>> = {};
  for (const m of txMethods) {
    const s = statementOf(m);
    if (s !== undefined) built[m] = declared(db, s);
  }
  const q = {
    byId: db.prepare<[string], MappingRow>(`SELECT ${mappingColumns} FROM mappings WHERE id = ?`),
    setState: db.prepare('UPDATE mappings SET state = ?, contest_deadline = ?, updated_at = ? WHERE id = ?'),
    seen: db.prepare('INSERT OR IGNORE INTO seen_requests (id, expires_at) VALUES (?, ?)'),
    purgeSeen: db.prepare('DELETE FROM seen_requests WHERE expires_at < ?'),
    spend: db.prepare('INSERT OR IGNORE INTO spent_tokens (key_id, nonce, expires_at) VALUES (?, ?, ?)'),
    purgeSpent: db.prepare('DELETE FROM spent_tokens WHERE expires_at < ?'),
    enqueue: db.prepare(
      'INSERT OR IGNORE INTO outbox (target, event_id, body, next_at, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    setHead: db.prepare('UPDATE log_head SET size = ?, edge = ? WHERE id = 1'),
    leaf: db.prepare('INSERT INTO log_leaves (idx, hash, data, time) VALUES (?, ?, ?, ?)'),
    node: db.prepare('INSERT OR REPLACE INTO log_nodes (id, hash) VALUES (?, ?)'),
    cosign: db.prepare(
      'INSERT OR REPLACE INTO log_cosignatures (size, witness, line, at) VALUES (?, ?, ?, ?)',
    ),
    cosigned: db.prepare(
      'UPDATE log_checkpoints SET cosigned = (SELECT COUNT(*) FROM log_cosignatures WHERE size = ?) WHERE size = ?',
    ),
  };
  const own: Pick<StoreTx, OwnTxMethod> = {
    mapping: async (id) => {
      const r = q.byId.get(id);
      return r === undefined ? undefined : toMapping(r);
    },
    setState: async (ids, state, now, contestDeadline) => {
      const deadline = state === 'contested' ? (contestDeadline ?? null) : null;
      for (const id of ids) q.setState.run(state, deadline, now, id);
    },
    rememberRequest: async (id, expiresAt) => {
      q.purgeSeen.run(Math.floor(Date.now() / 1000));
      return q.seen.run(id, expiresAt).changes === 1;
    },
    spendToken: async (keyId, nonce, keepUntil) => {
      q.purgeSpent.run(Math.floor(Date.now() / 1000));
      return q.spend.run(keyId, nonce, keepUntil).changes === 1;
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
    enqueue: async (items, nowMs) => {
      for (const it of items) q.enqueue.run(it.target, it.eventId, it.body, nowMs, nowMs);
    },
    appendLog: async (leaves, nodes, head) => {
      for (const l of leaves) q.leaf.run(l.index, bytesOf(l.hash), bytesOf(l.data), l.time);
      for (const n of nodes) q.node.run(nodeId(n.level, n.index), bytesOf(n.hash));
      q.setHead.run(head.size, edgeOf(head));
    },
    addCosignature: async (size, witness, line, at) => {
      q.cosign.run(size, witness, line, at);
      q.cosigned.run(size, size);
    },
  };
  return { ...(built as Pick<StoreTx, StatementTxMethod>), ...own };
}
