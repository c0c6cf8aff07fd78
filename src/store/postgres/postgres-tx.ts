import type pg from 'pg';
import {
  type Lock,
  type OwnTxMethod,
  postgresText,
  resultOf,
  type StatementTxMethod,
  statementOf,
  type TxMethod,
  txContract,
  txMethods,
} from '../contract.js';
import { bindParams, epochColumns, type MappingRow, mappingColumns, toMapping } from '../rows.js';
import type { LogHead, StoreTx } from '../store.js';
import { LockSpace } from './locks.js';
import type { Pipeline } from './pipeline.js';
import * as log from './postgres-log.js';

/**
 * The operations of one PostgreSQL write, on its connection: the declared statements
 * (contract.ts) as named statements, parsed once per connection, each after the advisory lock of
 * the CSI it names; and the methods whose logic is PostgreSQL's own. A statement whose answer
 * nobody needs (a `none` result, a lock, an own method that returns nothing) is sent without
 * waiting for it (pipeline.ts): it travels with the next statement that is awaited.
 */

type Method = (...a: unknown[]) => Promise<unknown>;

interface Compiled {
  method: TxMethod;
  name: string;
  text: string;
  params: (...a: unknown[]) => readonly unknown[];
  lock: ((...a: unknown[]) => Lock) | undefined;
  /** Undefined for a `none` result: nothing to wait for. */
  answer: ((r: pg.QueryResult) => unknown) | undefined;
}

function answerOf(kind: ReturnType<typeof resultOf>): ((r: pg.QueryResult) => unknown) | undefined {
  const { row, rows, column, fallback } = kind;
  switch (kind.kind) {
    case 'all':
      return (r) => r.rows.map(row);
    case 'rows':
      return (r) => rows(r.rows);
    case 'first':
      return (r) => (r.rows[0] === undefined ? undefined : row(r.rows[0]));
    case 'only':
      return (r) => row(r.rows[0]);
    case 'column':
      return (r) => r.rows.map((x) => x[column]);
    case 'scalar':
      return (r) => r.rows[0]?.[column] ?? fallback;
    case 'changed':
      return (r) => r.rowCount === 1;
    case 'count':
      return (r) => r.rowCount ?? 0;
    case 'none':
      return undefined;
  }
}

/** Every declared statement, compiled once for the process. */
const compiled: Compiled[] = txMethods.flatMap((method) => {
  const s = statementOf(method);
  if (s === undefined) return [];
  const route = txContract[method].route as { to: string; csi?: (...a: unknown[]) => string };
  // By default a statement about a CSI holds that CSI's lock (PostgresStore's class comment).
  const lock =
    s.lock === null
      ? undefined
      : s.lock !== undefined
        ? (s.lock as (...a: unknown[]) => Lock)
        : route.to === 'csi'
          ? (...a: unknown[]): Lock => ['csi', route.csi!(...a)]
          : undefined;
  return [
    {
      method,
      name: `tx-${method}`,
      text: postgresText(s.sql),
      params: s.params as (...a: unknown[]) => readonly unknown[],
      lock,
      answer: answerOf(resultOf(s)),
    },
  ];
});

const space = { csi: LockSpace.Csi, witness: LockSpace.Witness } as const;

/** A write's transaction, on the connection of `p`. */
export function postgresTx(p: Pipeline): StoreTx {
  const ask: log.Run = (name, text, values) => p.ask(name, text, values);
  const send: log.Send = (name, text, values) => p.send(name, text, values);
  /** Locks this transaction holds (or is acquiring), by space and key. */
  const locks = new Set<string>();
  /**
   * Holds the lock until commit or rollback. A separate statement, before the one that reads, but
   * not a round trip of its own: sent without waiting, the read right behind it. PostgreSQL runs
   * a connection's statements one after the other, in order, so the read starts only once the
   * lock is granted, and under READ COMMITTED each statement's snapshot is taken when it starts:
   * the read sees what the lock's previous holder committed, as every check-then-change of a CSI
   * needs (R16 cut-offs, R17 precedence, in csiState). A lock that fails (deadlock, lock_timeout)
   * aborts the transaction, and the read throws the lock's error (pipeline.ts).
   */
  const lock = ([kind, key]: Lock): void => {
    const id = `${kind}:${key}`;
    if (locks.has(id)) return;
    locks.add(id);
    send('xact-lock', 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [space[kind], key]);
  };
  const built: Partial<Record<TxMethod, Method>> = {};
  for (const s of compiled) {
    const { answer } = s;
    built[s.method] = async (...a) => {
      if (s.lock !== undefined) lock(s.lock(...a));
      const values = bindParams(s.params(...a), 'bool');
      if (answer === undefined) send(s.name, s.text, values);
      else return answer(await ask(s.name, s.text, values));
    };
  }
  /**
   * The log's head as this transaction holds it: read `FOR UPDATE` once (no other transaction
   * can change the row until this one ends), then what this transaction's own appends left. An
   * accept asks for it twice (the index it signs, then the append), one round trip fewer.
   * A failed statement aborts the whole transaction, and a retry gets a new postgresTx, so the
   * head kept here is never one that was rolled back.
   */
  let head: Promise<LogHead> | undefined;
  const readHead = built.logHead as () => Promise<LogHead>;
  built.logHead = () => {
    head ??= readHead();
    return head;
  };
  const own: Pick<StoreTx, OwnTxMethod> = {
    mapping: async (id) => {
      const read = async () =>
        (await ask<MappingRow>('by-id', `SELECT ${mappingColumns} FROM mappings WHERE id = $1`, [id]))
          .rows[0];
      const r = await read();
      if (r === undefined) return undefined;
      if (locks.has(`csi:${r.csi}`)) return toMapping(r);
      // Now that we know its CSI: lock it, and read the row again as the lock holder sees it.
      lock(['csi', r.csi]);
      const again = await read();
      return again === undefined ? undefined : toMapping(again);
    },
    setState: async (ids, state, now, contestDeadline) => {
      if (ids.length === 0) return;
      const deadline = state === 'contested' ? (contestDeadline ?? null) : null;
      send(
        'set-state',
        'UPDATE mappings SET state = $1, contest_deadline = $2, updated_at = $3 WHERE id = ANY($4::text[])',
        [state, deadline, now, ids],
      );
    },
    rememberRequest: async (id, expiresAt) => {
      const now = Math.floor(Date.now() / 1000);
      // Purge a few expired ids, skipping rows another write is purging: no write waits on another here.
      send(
        'purge-seen',
        'DELETE FROM seen_requests WHERE id IN (SELECT id FROM seen_requests WHERE expires_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)',
        [now],
      );
      // An expired id not purged yet counts as unseen, as it would once purged. Concurrent inserts
      // of one id wait for each other (unique index): exactly one of them returns true.
      const r = await ask(
        'remember',
        'INSERT INTO seen_requests (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE seen_requests.expires_at < $3',
        [id, expiresAt, now],
      );
      return r.rowCount === 1;
    },
    spendToken: async (keyId, nonce, keepUntil) => {
      send(
        'purge-spent',
        'DELETE FROM spent_tokens WHERE (key_id, nonce) IN (SELECT key_id, nonce FROM spent_tokens WHERE expires_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)',
        [Math.floor(Date.now() / 1000)],
      );
      // Concurrent inserts of one token wait for each other (primary key): exactly one is true.
      const r = await ask(
        'spend-token',
        'INSERT INTO spent_tokens (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [keyId, nonce, keepUntil],
      );
      return r.rowCount === 1;
    },
    updateOprfEpoch: async (id, patch) => {
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
      send(undefined, `UPDATE oprf_epochs SET ${sets.join(', ')} WHERE id = $${values.length}`, values);
    },
    enqueue: async (items, nowMs) => {
      if (items.length === 0) return;
      // One statement for the lot; WITH ORDINALITY keeps the ids in the order given (delivery order).
      send(
        'enqueue',
        `INSERT INTO outbox (target, event_id, body, next_at, created_at)
         SELECT t, e, b, $4, $4 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, e, b, n) ORDER BY n
         ON CONFLICT (target, event_id) DO NOTHING`,
        [items.map((i) => i.target), items.map((i) => i.eventId), items.map((i) => i.body), nowMs],
      );
    },
    appendLog: async (leaves, nodes, next) => {
      log.appendLog(send, leaves, nodes, next);
      head = Promise.resolve(next);
    },
    addCosignature: async (size, witness, line, at) => log.addCosignature(send, size, witness, line, at),
  };
  return { ...(built as Pick<StoreTx, StatementTxMethod>), ...own };
}
