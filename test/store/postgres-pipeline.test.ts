import { randomInt } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { signedSubmission, tempDevnet } from '../../bench/lib/fixtures.js';
import { nowSeconds } from '../../src/protocol/encoding.js';
import { isMimiError } from '../../src/protocol/errors.js';
import { loadConfig } from '../../src/server/config.js';
import { configDefaults } from '../../src/server/config-defaults.js';
import { createContext } from '../../src/server/context.js';
import { ConflictKind, WriteConflict } from '../../src/store/errors.js';
import { LockSpace } from '../../src/store/postgres/locks.js';
import { Pipeline } from '../../src/store/postgres/pipeline.js';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { StoredMapping } from '../../src/store/store.js';
import { storedMapping } from '../support/mapping-rows.js';
import { openPostgresTestStore, postgresAvailable, postgresUrl } from '../support/stores.js';

/**
 * A PostgreSQL write sends the statements whose answer nobody needs without waiting for it
 * (src/store/postgres/pipeline.ts): fewer round trips, the same errors as when every statement was
 * awaited (the races write() retries, store-unavailable for a lost connection), and nothing of a
 * write committed when any of its statements failed (R3: a mapping and its log leaf together).
 */

const available = postgresAvailable();
/** A CSI of this file alone: the advisory locks on it are database-wide. */
const csi = `tel:+1415555${String(randomInt(1000, 9999))}`;
const row = (n: number, over: Partial<StoredMapping> = {}) =>
  storedMapping({ csi, id: `m${n}`, bodyDigest: `d${n}`, holderKey: `k${n}`, ...over });
/** A row PostgreSQL refuses on its own (23502 not_null_violation): never a race. */
const refused = (n: number) => row(n, { json: null as unknown as string });

const poolOf = (store: PostgresStore) => (store as unknown as { pool: pg.Pool }).pool;

type Callback = (err: unknown, result: unknown) => void;

/** Each client session of `pool` (acquire to release): its statements, and the round trips they took. */
function countTrips(pool: pg.Pool): { statements: string[]; trips: number }[] {
  const sessions: { statements: string[]; trips: number }[] = [];
  const wrapped = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (client) => {
    const session = { statements: [] as string[], trips: 0 };
    sessions.push(session);
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    let waiting = 0;
    // A round trip starts with a statement sent while no answer of this client is awaited.
    (client as { query: unknown }).query = (
      config: string | { name?: string; text: string },
      ...rest: unknown[]
    ) => {
      const current = sessions.at(-1)!;
      current.statements.push(typeof config === 'string' ? config : (config.name ?? config.text));
      if (waiting++ === 0) current.trips++;
      const settled = () => {
        waiting--;
      };
      const done = rest.at(-1);
      if (typeof done === 'function') {
        return query(config, ...rest.slice(0, -1), (err: unknown, result: unknown) => {
          settled();
          (done as Callback)(err, result);
        });
      }
      const answer = query(config, ...rest) as Promise<unknown>;
      answer.then(settled, settled);
      return answer;
    };
  });
  return sessions;
}

describe.skipIf(!available)('PostgreSQL writes: statements sent without waiting for their answer', () => {
  let store: PostgresStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('a failed statement not awaited rejects the write with its own error, and nothing of the write is stored', async () => {
    store = await openPostgresTestStore();
    const s = store;
    await s.write(async (tx) => tx.insertMapping(row(1)));
    const key = { csi, key: 'k9', group: 'g9', retired: false };

    /** A write of the holder key, then `mapping`, neither awaited: its error and how often it ran. */
    const insert = async (mapping: StoredMapping) => {
      let runs = 0;
      const error = await s
        .write(async (tx) => {
          runs++;
          await tx.insertHolderKey(key);
          await tx.insertMapping(mapping);
        })
        .catch((e) => e);
      return { error, runs };
    };

    // Not a race: thrown as PostgreSQL reported it, after one run.
    const refusedRow = await insert(refused(2));
    expect(refusedRow.error.code).toBe('23502');
    expect(refusedRow.runs).toBe(1);

    // A race (23505, the id taken): run again until the attempts are spent, then a WriteConflict.
    const taken = await insert(row(1));
    expect(taken.error).toBeInstanceOf(WriteConflict);
    expect(taken.error).toMatchObject({ kind: ConflictKind.UniqueViolation, driverCode: '23505' });
    expect(taken.runs).toBe(configDefaults.store.postgres.maxWriteAttempts);

    expect(await s.write((tx) => tx.holderKey(csi, 'k9'))).toBeUndefined();
    expect(await s.stats()).toEqual({ mappings: 1, active: 1 });
  });

  it("a write that throws after a failed statement not awaited fails with that statement's error", async () => {
    store = await openPostgresTestStore();
    // As when every statement was awaited: the write never got past the failed one.
    const err = await store
      .write(async (tx) => {
        await tx.insertMapping(refused(1));
        throw new Error('after the insert');
      })
      .catch((e) => e);
    expect(err.code).toBe('23502');
  });

  it('a statement pg refuses to send (a value it cannot bind) fails the write, and what came before is not committed', async () => {
    store = await openPostgresTestStore();
    const unbindable = new TypeError('not a value pg can send');
    const json = {
      toPostgres: () => {
        throw unbindable;
      },
    } as unknown as string;
    const err = await store
      .write(async (tx) => {
        await tx.insertHolderKey({ csi, key: 'k1', group: 'g1', retired: false });
        await tx.insertMapping(row(1, { json }));
      })
      .catch((e) => e);
    expect(err).toBe(unbindable);
    expect(await store.write((tx) => tx.holderKey(csi, 'k1'))).toBeUndefined();
  });

  it('a statement pg refuses on the next tick is known before COMMIT, which is then not sent', async () => {
    store = await openPostgresTestStore();
    const client = await poolOf(store).connect();
    try {
      const pipe = new Pipeline(client);
      pipe.send(undefined, 'BEGIN');
      pipe.send('pipeline-test', 'SELECT 1', []);
      // One name, another text: pg refuses it on the next tick, and nothing reaches the server.
      pipe.send('pipeline-test', 'SELECT 2', []);
      expect(await pipe.commit()).toBe(false);
      const err = await pipe.settle().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBeUndefined();
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('a statement awaited after a failed one throws the first failure, not 25P02, and the write still fails', async () => {
    store = await openPostgresTestStore();
    let seen: { code?: string } | undefined;
    const failed = await store
      .write(async (tx) => {
        await tx.insertMapping(refused(1));
        seen = await tx.liveMappings(csi).then(
          () => ({}),
          (e) => e,
        );
        // Even when the failure is swallowed here, nothing commits.
      })
      .catch((e) => e);
    expect(seen?.code).toBe('23502');
    expect(failed.code).toBe('23502');
    expect(await store.stats()).toEqual({ mappings: 0, active: 0 });
  });

  it('a connection lost with statements in flight is store-unavailable, stores nothing, and its client is dropped', async () => {
    store = await openPostgresTestStore({ poolSize: 1 });
    const s = store;
    const released: (Error | undefined)[] = [];
    poolOf(s).on('release', (err) => released.push(err));
    const other = new pg.Client({ connectionString: postgresUrl });
    await other.connect();
    try {
      // Another session holds the CSI's lock: the write's lock, and everything sent behind it, waits.
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LockSpace.Csi, csi]);
      const doomed = s
        .write(async (tx) => {
          await tx.insertMapping(row(1));
          await tx.insertHolderKey({ csi, key: 'k1', group: 'g1', retired: false });
          return tx.liveMappings(csi);
        })
        .catch((e) => e);
      let waiting: number | undefined;
      while (waiting === undefined) {
        const r = await other.query<{ pid: number }>(
          `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1
             AND objsubid = 2 AND objid::bigint = (hashtext($2)::bigint + 4294967296) % 4294967296`,
          [LockSpace.Csi, csi],
        );
        waiting = r.rows[0]?.pid;
      }
      await other.query('SELECT pg_terminate_backend($1)', [waiting]);
      const err = await doomed;
      expect(isMimiError(err, 'store-unavailable'), String(err)).toBe(true);
      expect(released).toHaveLength(1);
      expect(released[0]).toBeInstanceOf(Error);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
    // The pool's one connection is a new one, and the lost write left nothing.
    await s.write(async (tx) => tx.insertMapping(row(2)));
    expect((await s.activeMappings([csi], 0)).get(csi)?.map((m) => m.id)).toEqual(['m2']);
  });

  it("an accept's 11 statements take 4 round trips", async () => {
    const { layout, signers, remove } = tempDevnet('mimi-pipeline-');
    try {
      store = await openPostgresTestStore();
      const sessions = countTrips(poolOf(store));
      const ctx = await createContext(loadConfig(layout.configFile), { store });
      try {
        const now = nowSeconds();
        await ctx.dp.accept(signedSubmission(signers, 0, now));
        sessions.length = 0;
        await ctx.dp.accept(signedSubmission(signers, 1, now));
      } finally {
        await ctx.close();
        store = undefined;
      }
      const accept = sessions.find((x) => x.statements.includes('tx-csiState'));
      // BEGIN, the CSI's lock, csiState | logHead | the log append, the holder key, the mapping,
      // the epochs, the live rows | the private entry, COMMIT: one statement a round trip before.
      expect(accept?.statements).toHaveLength(11);
      expect(accept?.trips).toBe(4);
    } finally {
      remove();
    }
  });
});
