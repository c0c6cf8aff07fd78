import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeFromOutbox } from '../../src/cli/devnet-access.js';
import { type DevnetLayout, readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { logVerifiers } from '../../src/federation/witness.js';
import { logOrigin } from '../../src/protocol/transparency.js';
import { RegistrySource } from '../../src/registry/source.js';
import type { NodeConfig } from '../../src/server/config.js';
import { LeaderRole } from '../../src/store/leadership.js';
import { LockSpace } from '../../src/store/postgres/locks.js';
import { openCheckpoint } from '../../src/tlog/checkpoint.js';
import { freePort } from '../support/devnet.js';
import { eventually } from '../support/dp-processes.js';
import { kill9, startNode } from '../support/node-process.js';
import { startNoticeHook } from '../support/notice-hook.js';
import { dropSchema, postgresAvailable, postgresUrl, testSchema } from '../support/stores.js';

/**
 * R22, issue 6 "many nodes": three `serve` processes of one DP (one identity, one config that
 * differs only in the port) on one PostgreSQL schema and one Redis key prefix act as one DP:
 * sessions and rate-limit budgets are shared, each background job runs on one node at a time,
 * and when that node is killed the others keep answering and take its jobs over.
 */

const redisUrl = process.env.MIMI_TEST_REDIS_URL || undefined;
if (redisUrl === undefined)
  console.warn(
    'Many-node tests SKIPPED: MIMI_TEST_REDIS_URL is not set and nothing answers at 127.0.0.1:6379',
  );
const available = postgresAvailable() && redisUrl !== undefined;

const roles = Object.values(LeaderRole);
const csiLooked = 'tel:+14155550181';
const csiRemoved = 'tel:+14155550182';

interface Node {
  name: string;
  url: string;
  child: ChildProcess;
}

describe.skipIf(!available)(
  'R22: three nodes on one PostgreSQL and one Redis act as one DP',
  {
    timeout: 120_000,
  },
  () => {
    const schema = testSchema();
    const prefix = `mimi-test-${randomBytes(6).toString('hex')}`;
    let dir: string;
    let layout: DevnetLayout;
    let registry: RegistrySource;
    let hook: Awaited<ReturnType<typeof startNoticeHook>>;
    let db: pg.Client;
    const nodes: Node[] = [];
    let files: string[] = [];

    /** Each role's holders as pg shows them: application_name of the backend holding the lease. */
    async function leaders(): Promise<Record<string, string[]>> {
      const r = await db.query<{ role: string; name: string | null }>(
        `SELECT r.role, a.application_name AS name
         FROM unnest($2::text[]) AS r(role)
         LEFT JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = $1::int4::oid AND l.objid = hashtext($3 || '/' || r.role)::oid
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid`,
        [LockSpace.Leader, roles, schema],
      );
      const out: Record<string, string[]> = {};
      for (const row of r.rows) out[row.role] = [...(out[row.role] ?? []), ...(row.name ? [row.name] : [])];
      return out;
    }

    /** The node process a leadership connection belongs to: its application_name is mimi:dp1:<pid>@<host>. */
    function nodeOf(applicationName: string): Node | undefined {
      const pid = /^mimi:dp1:(\d+)@/.exec(applicationName)?.[1];
      return nodes.find((n) => String(n.child.pid) === pid);
    }

    const agent = (msp: string, node: Node) =>
      new MspAgent({
        id: msp,
        key: readJwkFile(layout.msps.find((m) => m.id === msp)!.keyFile),
        dp: { id: 'dp1', baseUrl: node.url, timeoutMs: 15_000 },
        registry: () => registry.current(),
        isOwnUser: () => true,
      });

    const newestCheckpoint = async () =>
      (
        await db.query<{ size: number | null }>(
          `SELECT max(size)::int AS size FROM ${schema}.log_checkpoints`,
        )
      ).rows[0]!.size ?? 0;
    const logSize = async () =>
      (await db.query<{ size: number }>(`SELECT size::int FROM ${schema}.log_head WHERE id = 1`)).rows[0]
        ?.size ?? 0;

    /** Possession of `csi` proved across nodes: challenge started on one node, answered on another. */
    async function publish(csi: string, user: string, start: Node, answer: Node, submit: Node) {
      const holderKey = generateKeyPair();
      const holder = new HolderClient({ dp: { baseUrl: start.url }, key: holderKey });
      const started = await holder.startChallenge(csi);
      const code = await eventually(async () => codeFromOutbox(layout.outboxFile, csi), 10_000, 'the code');
      const att = await new HolderClient({ dp: { baseUrl: answer.url }, key: holderKey }).answerChallenge(
        started.challengeId,
        code,
      );
      const msp = agent('msp1', submit);
      return msp.submit(
        await msp.confirm(
          holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/${user}`, attestation: att }),
        ),
      );
    }

    beforeAll(async () => {
      hook = await startNoticeHook(() => registry.current());

      dir = mkdtempSync(join(tmpdir(), 'mimi-cluster-'));
      const ports = [await freePort(), await freePort(), await freePort()];
      writeDevnet(dir, {
        port: ports[0]!,
        dps: 1,
        webhooks: { msp1: hook.url },
      });
      layout = readDevnet(dir);
      registry = new RegistrySource({ location: join(dir, 'registry.json'), pinnedKey: layout.registryKey });
      await registry.load();
      const base = JSON.parse(readFileSync(layout.configFile, 'utf8')) as NodeConfig;
      // One config for the DP; the files differ only in listen.port.
      const config: NodeConfig = {
        ...base,
        store: { backend: 'postgres', url: postgresUrl!, schema, poolSize: 4 },
        rateLimits: { redisUrl: redisUrl!, keyPrefix: prefix },
        sessions: { secretFile: 'keys/dp1.sessions.secret' },
        log: { checkpointIntervalMs: 200, requestsPerMinute: 6 },
        federation: { outboxIntervalMs: 100, outboxMaxBackoffMs: 1000 },
        // The kill test looks up as fast as it can: MSP lookup budgets (R22) are not what it tests.
        limits: {
          nonDefaultPointsPerMinute: 6,
          mspLookupPerMinute: 10_000_000,
          mspLookupPerDay: 100_000_000,
        },
      };
      files = ports.map((port, i) => {
        const file = join(dir, `dp1-${'abc'[i]}.config.json`);
        writeFileSync(file, JSON.stringify({ ...config, listen: { ...config.listen, port } }, null, 2));
        return file;
      });
      db = new pg.Client({ connectionString: postgresUrl });
      await db.connect();
      // Node a first, alone: it takes every role. Then b and c together (both racing through start-up).
      nodes.push({ name: 'a', url: `http://127.0.0.1:${ports[0]}`, child: await startNode(files[0]!) });
      await eventually(
        async () =>
          Object.values(await leaders()).every((h) => h.length === 1 && nodeOf(h[0]!)?.name === 'a'),
        15_000,
        'node a to lead every role',
      );
      const [b, c] = await Promise.all([startNode(files[1]!), startNode(files[2]!)]);
      nodes.push({ name: 'b', url: `http://127.0.0.1:${ports[1]}`, child: b });
      nodes.push({ name: 'c', url: `http://127.0.0.1:${ports[2]}`, child: c });
    }, 120_000);

    afterAll(async () => {
      await Promise.all(nodes.map((n) => kill9(n.child)));
      await db?.end();
      if (postgresUrl !== undefined) await dropSchema(postgresUrl, schema);
      if (redisUrl !== undefined) {
        const redis = new Redis(redisUrl);
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
      registry?.close();
      hook?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('one leader per role, named in pg_stat_activity; the nodes that joined later follow', async () => {
      const held = await leaders();
      expect(Object.keys(held).sort()).toEqual([...roles].sort());
      for (const role of roles) {
        expect(held[role], role).toHaveLength(1);
        expect(nodeOf(held[role]![0]!)?.name, role).toBe('a');
      }
      // b and c keep their leadership connections open, trying, and hold nothing. (Nodes of
      // other test files, on other schemas, may be connected too: only these three count.)
      const names = (
        await db.query<{ name: string }>(
          `SELECT application_name AS name FROM pg_stat_activity WHERE application_name LIKE 'mimi:dp1:%'`,
        )
      ).rows.flatMap((r) => nodeOf(r.name)?.name ?? []);
      expect(names.sort()).toEqual(['a', 'b', 'c']);
    });

    it('possession proved across nodes, published on a third; a session token from one node works on every node', async () => {
      const [a, b, c] = nodes as [Node, Node, Node];
      await publish(csiLooked, 'bob', a, b, c);
      await publish(csiRemoved, 'carol', c, a, b);
      const token = await agent('msp1', a).sessionToken();
      for (const node of [a, b, c]) {
        const res = await fetch(`${node.url}/v1/lookup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ v: 1, csis: [csiLooked], format: 'compact' }),
        });
        expect(res.status, node.name).toBe(200);
      }
      // The token is checked, not merely passed: one changed character is refused on every node.
      const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
      const refused = await fetch(`${b.url}/v1/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${forged}` },
        body: JSON.stringify({ v: 1, csis: [csiLooked], format: 'compact' }),
      });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ code: 'unauthenticated' });
    });

    it('a rate-limit budget is one budget across the nodes (Redis), not one per node', async () => {
      const token = await agent('msp2', nodes[0]!).sessionToken();
      // R12: federated lookups draw on the non-default budget, 6 points a minute, one per CSI.
      const federated = (node: Node) =>
        fetch(`${node.url}/v1/lookup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ v: 1, csis: [csiLooked], format: 'compact', federation: true }),
        });
      for (const node of [...nodes, ...nodes]) expect((await federated(node)).status, node.name).toBe(200);
      for (const node of nodes) {
        const res = await federated(node);
        expect(res.status, node.name).toBe(429);
        expect(await res.json()).toMatchObject({ code: 'rate-limited' });
      }
    });

    it('the public log-read limit is one budget across the nodes too (Redis)', async () => {
      // log.requestsPerMinute is 6 per client address for the DP, whichever node answers.
      const read = (node: Node) => fetch(`${node.url}/v1/log/checkpoint`);
      for (const node of [...nodes, ...nodes]) expect((await read(node)).status, node.name).toBe(200);
      for (const node of nodes) {
        const res = await read(node);
        expect(res.status, node.name).toBe(429);
        expect(await res.json()).toMatchObject({ code: 'rate-limited' });
      }
      // The counts are in Redis under the DP's prefix; clear them for the reads that follow.
      const redis = new Redis(redisUrl!);
      try {
        const keys = await redis.keys(`${prefix}:log-reads*`);
        expect(keys.length).toBeGreaterThan(0);
        await redis.del(...keys);
      } finally {
        await redis.quit();
      }
    });

    it('kill -9 of the leader: the others keep answering, take its roles, sign checkpoints, deliver the outbox', async () => {
      const [a, b, c] = nodes as [Node, Node, Node];
      // Everything logged so far is in a signed checkpoint, so lookups need no new one.
      const before = await eventually(
        async () => {
          const size = await logSize();
          return (await newestCheckpoint()) === size && size;
        },
        10_000,
        'a checkpoint of the whole log',
      );

      // Lookups against the survivors, all through the kill.
      let stop = false;
      let killed = false;
      const failures: unknown[] = [];
      let answered = 0;
      let afterKill = 0;
      const loops = [b, c].map(async (node) => {
        const msp = agent('msp3', node);
        while (!stop) {
          try {
            const [r] = await msp.lookup([csiLooked]);
            expect(r!.mappings.map((m) => m.mapping.body.ssi)).toEqual(['mimi://chat.example/u/bob']);
            answered++;
            if (killed) afterKill++;
          } catch (err) {
            failures.push(err);
          }
        }
      });
      await eventually(async () => answered >= 10, 15_000, 'lookups to run');
      await kill9(a.child);
      killed = true;

      // Every role moves to one survivor; none stays with the dead node.
      const held = await eventually(
        async () => {
          const h = await leaders();
          return (
            Object.values(h).every((x) => x.length === 1 && ['b', 'c'].includes(nodeOf(x[0]!)?.name ?? '')) &&
            h
          );
        },
        15_000,
        'the roles to move',
      );
      expect(Object.keys(held).sort()).toEqual([...roles].sort());
      const sessions = await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1`, [
        `mimi:dp1:${a.child.pid}@%`,
      ]);
      expect(sessions.rowCount).toBe(0);

      // A change after the kill: the CSIP reports a number disconnected, at node b. It is logged
      // (a leaf) and the MSP is told (an outbox item); both jobs now run on a survivor.
      const unsigned = {
        v: 1 as const,
        issuer: 'csip1',
        csi: csiRemoved,
        kind: 'disconnected' as const,
        at: Math.floor(Date.now() / 1000),
      };
      const res = await fetch(`${b.url}/v1/csip/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ...unsigned,
          sig: signObject(SignPurpose.CsipEvent, unsigned, readJwkFile(layout.csip.keyFile).privateKey),
        }),
      });
      expect(res.status).toBe(201);
      const { removed } = (await res.json()) as { removed: string[] };
      expect(removed).toHaveLength(1);

      const notice = await eventually(
        async () => hook.notices.find((n) => n.notice.mappingId === removed[0])?.notice,
        15_000,
        'the removal notice',
      );
      expect(notice).toMatchObject({ kind: 'removed', dp: 'dp1', msp: 'msp1' });

      // The sequencer moved: a checkpoint newer than any before the kill, signed with the DP's key.
      await eventually(
        async () => (await newestCheckpoint()) > before,
        15_000,
        'a checkpoint after the kill',
      );
      const note = await (await fetch(`${c.url}/v1/log/checkpoint`)).text();
      const cp = openCheckpoint(note, logVerifiers(registry.current(), 'dp1'), {
        origin: logOrigin(registry.current().doc.federation, 'dp1'),
      }).checkpoint;
      expect(cp.size).toBeGreaterThan(before);

      await eventually(async () => afterKill >= 20, 15_000, 'lookups after the kill');
      stop = true;
      await Promise.all(loops);
      expect(failures).toEqual([]);
    });

    it('the killed node, restarted, joins as a follower: the roles stay where they are', async () => {
      const before = await leaders();
      const restarted: Node = { ...nodes[0]!, name: 'a2', child: await startNode(files[0]!) };
      nodes.push(restarted);
      // Its leadership connection is open (it competes) ...
      await eventually(
        async () =>
          (
            await db.query('SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1', [
              `mimi:dp1:${restarted.child.pid}@%`,
            ])
          ).rowCount === 1,
        15_000,
        'the restarted node to connect',
      );
      // ... but wins nothing while the leaders live, and serves all the same.
      expect(await leaders()).toEqual(before);
      const [r] = await agent('msp1', restarted).lookup([csiLooked]);
      expect(r!.mappings.map((m) => m.mapping.body.ssi)).toEqual(['mimi://chat.example/u/bob']);
    });
  },
);
