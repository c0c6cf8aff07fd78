import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PrivateIndex } from '../../src/dp/private-index.js';
import { configDefaults } from '../../src/server/config.js';
import { type LeaderTask, SingleNodeLeadership } from '../../src/store/leadership.js';
import { leaderLockName, PostgresLeadership } from '../../src/store/postgres/leadership.js';
import { LockSpace } from '../../src/store/postgres/locks.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { Condition } from '../support/condition.js';
import {
  openPostgresTestStore,
  postgresAvailable,
  postgresOptions,
  postgresUrl,
  testSchema,
} from '../support/stores.js';

/**
 * R22, many nodes: the lease behind each single-at-a-time job. Several PostgresLeadership
 * instances stand for several nodes; each has a connection of its own, as nodes do.
 */

const available = postgresAvailable();

/** A task that records what leadership made it do, in one log shared by the "nodes". */
function recorder(log: string[], node: string): LeaderTask & { running: boolean } {
  const task = {
    running: false,
    start() {
      task.running = true;
      log.push(`${node}:start`);
    },
    stop() {
      task.running = false;
      log.push(`${node}:stop`);
    },
  };
  return task;
}

/** Backends holding the leader lock of `role` in `schema`, with their application_name (from pg_locks). */
async function holders(schema: string, role: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    const r = await c.query<{ application_name: string }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int4::oid
          AND l.objid = hashtext($2)::oid AND l.objsubid = 2`,
      [LockSpace.Leader, leaderLockName(schema, role)],
    );
    return r.rows.map((x) => x.application_name);
  } finally {
    await c.end();
  }
}

/** Ends the backends of one node, as a database restart or a network cut would. */
async function terminate(applicationName: string): Promise<number> {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

describe('a one-node store leads every role (SQLite)', () => {
  it('starts every task at start, reports them led, stops them at close', async () => {
    const log: string[] = [];
    const l = new SingleNodeLeadership('mimi:test');
    l.add('outbox', recorder(log, 'a'));
    expect(l.roles()).toEqual({ outbox: false });
    await l.start();
    l.add('witness', recorder(log, 'b'));
    expect(l.roles()).toEqual({ outbox: true, witness: true });
    await l.close();
    expect(l.roles()).toEqual({ outbox: false, witness: false });
    expect(log).toEqual(['a:start', 'b:start', 'a:stop', 'b:stop']);
    expect(() => l.add('outbox', recorder(log, 'c'))).toThrow(TypeError);
  });
});

describe.skipIf(!available)('R22: leader leases on PostgreSQL advisory locks', () => {
  const open: PostgresLeadership[] = [];
  /** Told of every role any node takes or loses (onChange). */
  const roleChanges = new Condition();
  const handedOver = (check: () => boolean, what: string) =>
    roleChanges.until(check, { timeoutMs: 10_000, what });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
  });

  function node(
    schema: string,
    name: string,
    roles: Record<string, LeaderTask>,
    retryMs = 50,
  ): PostgresLeadership {
    const l = new PostgresLeadership({
      url: postgresUrl!,
      schema,
      nodeName: name,
      connectionTimeoutMs: configDefaults.store.postgres.connectionTimeoutMs,
      retryMs,
      onChange: () => roleChanges.changed(),
    });
    for (const [role, task] of Object.entries(roles)) l.add(role, task);
    open.push(l);
    return l;
  }

  it('the first node takes a free role; a second is refused while the first holds it', async () => {
    const schema = testSchema();
    const log: string[] = [];
    const a = node(schema, `${schema}:a`, { outbox: recorder(log, 'a') });
    const b = node(schema, `${schema}:b`, { outbox: recorder(log, 'b') });
    await a.start();
    expect(a.roles()).toEqual({ outbox: true });
    await b.start();
    await b.poll();
    await b.poll();
    expect(b.roles()).toEqual({ outbox: false });
    expect(log).toEqual(['a:start']);
    // What operators see: one holder, named after the node.
    expect(await holders(schema, 'outbox')).toEqual([`${schema}:a`]);
  });

  it('roles are leased one by one, and DPs in other schemas of the same database have their own', async () => {
    const schema = testSchema();
    const other = testSchema();
    const log: string[] = [];
    const a = node(schema, `${schema}:a`, { outbox: recorder(log, 'a') });
    const b = node(schema, `${schema}:b`, { outbox: recorder(log, 'b'), witness: recorder(log, 'b-w') });
    const c = node(other, `${other}:c`, { outbox: recorder(log, 'c') });
    await a.start();
    await b.start();
    await c.start();
    expect(a.roles()).toEqual({ outbox: true });
    expect(b.roles()).toEqual({ outbox: false, witness: true });
    expect(c.roles()).toEqual({ outbox: true });
  });

  it('a node whose connection breaks stops its task at once; another node takes the role', async () => {
    const schema = testSchema();
    const log: string[] = [];
    const taskA = recorder(log, 'a');
    // a does not try again by itself within the test (it would compete with b on equal terms):
    // what it does on losing its connection is what is checked.
    const a = node(schema, `${schema}:a`, { outbox: taskA }, 600_000);
    const b = node(schema, `${schema}:b`, { outbox: recorder(log, 'b') });
    await a.start();
    await b.start();
    expect(b.isLeader('outbox')).toBe(false);
    expect(await terminate(`${schema}:a`)).toBe(1);
    await handedOver(() => !a.isLeader('outbox'), 'a to lose the role');
    expect(taskA.running).toBe(false);
    await handedOver(() => b.isLeader('outbox'), 'b to take the role');
    expect(await holders(schema, 'outbox')).toEqual([`${schema}:b`]);
    expect(log.slice(0, 2)).toEqual(['a:start', 'a:stop']);
    expect(log).toContain('b:start');
    // a reconnects and competes again, but b holds the lock: a stays a follower.
    await a.poll();
    await a.poll();
    expect(a.roles()).toEqual({ outbox: false });
    expect(log.filter((e) => e === 'a:start')).toHaveLength(1);
  });

  it('hand-over on close: tasks stop first, then the role goes to a waiting node', async () => {
    const schema = testSchema();
    const log: string[] = [];
    const a = node(schema, `${schema}:a`, { outbox: recorder(log, 'a'), witness: recorder(log, 'a-w') });
    const b = node(schema, `${schema}:b`, { outbox: recorder(log, 'b'), witness: recorder(log, 'b-w') });
    await a.start();
    await b.start();
    expect(b.roles()).toEqual({ outbox: false, witness: false });
    await a.close();
    expect(a.roles()).toEqual({ outbox: false, witness: false });
    await handedOver(() => b.isLeader('outbox') && b.isLeader('witness'), 'hand-over');
    // Both of a's tasks stopped before b started either.
    const firstB = log.findIndex((e) => e.startsWith('b'));
    expect(log.slice(0, firstB).sort()).toEqual(['a-w:start', 'a-w:stop', 'a:start', 'a:stop']);
    expect(await holders(schema, 'witness')).toEqual([`${schema}:b`]);
  });

  it('a task that fails to start gives its role back', async () => {
    const schema = testSchema();
    const log: string[] = [];
    // a tries once only (no retry within the test): its failed start must leave the role free.
    const a = node(
      schema,
      `${schema}:a`,
      {
        outbox: {
          start() {
            throw new Error('cannot start');
          },
          stop() {},
        },
      },
      600_000,
    );
    const b = node(schema, `${schema}:b`, { outbox: recorder(log, 'b') });
    await a.start();
    expect(a.roles()).toEqual({ outbox: false });
    expect(await holders(schema, 'outbox')).toEqual([]);
    await b.start();
    expect(b.roles()).toEqual({ outbox: true });
  });
});

describe.skipIf(!available)('R22: what every node does at start, on one database', () => {
  it('nodes starting together on an empty database make one OPRF epoch, not one each', async () => {
    const schema = testSchema();
    const first = await openPostgresTestStore({ schema });
    const others = await Promise.all(
      [1, 2].map(() => PostgresStore.open(postgresOptions({ url: postgresUrl!, schema, poolSize: 2 }))),
    );
    try {
      const kek = randomBytes(32);
      const now = () => 1_000_000;
      const indexes = [first, ...others].map(
        (store) =>
          new PrivateIndex({
            store,
            dpId: 'dp1',
            kek,
            kAnonymity: 4,
            rotationSeconds: 86_400,
            overlapSeconds: 3600,
            maxEvaluateBatch: 100,
            now,
          }),
      );
      await Promise.all(indexes.map((i) => i.open()));
      const epochs = await first.oprfEpochs();
      expect(epochs.map((e) => [e.id, e.state])).toEqual([[1, 'active']]);
      expect(indexes.map((i) => i.current())).toEqual([1, 1, 1]);
    } finally {
      for (const s of others) await s.close();
      await first.close();
    }
  });
});
