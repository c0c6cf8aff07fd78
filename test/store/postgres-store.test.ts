import { createServer, type Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isMimiError } from '../../src/protocol/errors.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store, StoredMapping } from '../../src/store/store.js';
import {
  dropSchema,
  openPostgresTestStore,
  postgresAvailable,
  postgresOptions,
  postgresUrl,
  testSchema,
} from '../support/stores.js';

/**
 * What only a shared database has to get right: two nodes (two stores, two pools) writing the
 * same CSI at once, and a database that goes away and comes back.
 */

const available = postgresAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A deadline: false once `ms` have passed. */
const giveUpAfter = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms).unref());
const csi = 'tel:+14155550123';

function mapping(n: number, over: Partial<StoredMapping> = {}): StoredMapping {
  return {
    id: `m${n}`,
    csi,
    holderGroup: `g${n}`,
    holderKey: `k${n}`,
    msp: 'msp1',
    tag: 'Default',
    priority: 0,
    optOut: false,
    level: 'otp',
    state: 'active',
    acceptedAt: n,
    expiresAt: 1_000_000,
    contestDeadline: null,
    bodyDigest: `d${n}`,
    json: '{}',
    ...over,
  };
}

/** A TCP relay in front of PostgreSQL that can be cut (every connection dropped) and restored. */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly target: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(this.target, this.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Like a database that went down: open connections reset, new ones refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}

describe.skipIf(!available)('PostgreSQL store: many nodes, one database', () => {
  const opened: Store[] = [];
  let schema = '';
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    if (schema !== '') await dropSchema(postgresUrl!, schema);
    schema = '';
  });

  /** Two stores on one schema: two DP nodes. */
  async function twoNodes(): Promise<[PostgresStore, PostgresStore]> {
    schema = testSchema();
    const [a, b] = await Promise.all([
      PostgresStore.open(postgresOptions({ url: postgresUrl!, schema, poolSize: 8 })),
      PostgresStore.open(postgresOptions({ url: postgresUrl!, schema, poolSize: 8 })),
    ]);
    opened.push(a, b);
    return [a, b];
  }

  it('nodes starting together migrate the schema once', async () => {
    const [a, b] = await twoNodes();
    expect(await a.schemaVersion()).toBe(await b.schemaVersion());
    expect((await a.schemaVersion()) > 0).toBe(true);
  });

  it("one CSI's check-then-change runs one write at a time across nodes", async () => {
    const nodes = await twoNodes();
    // Each write: "no live mapping for the CSI? then insert one", with time for a rival in between.
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        nodes[i % 2]!.write(async (tx) => {
          const live = await tx.liveMappings(csi);
          await sleep(15);
          if (live.length > 0) return 'saw-incumbent';
          await tx.insertMapping(mapping(i));
          return 'inserted';
        }),
      ),
    );
    expect(outcomes.filter((o) => o === 'inserted')).toHaveLength(1);
    expect((await nodes[0].activeMappings([csi], 0)).get(csi)).toHaveLength(1);
  });

  it('writes to different CSIs do not wait for each other', async () => {
    const nodes = await twoNodes();
    // Each write keeps its transaction open until all eight are inside theirs at once. Writes that
    // waited for each other could never all be inside together: each would give up after 10 s.
    const inside = new Set<number>();
    let allInside!: () => void;
    const together = new Promise<true>((r) => {
      allInside = () => r(true);
    });
    const sawAll = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        nodes[i % 2]!.write(async (tx) => {
          await tx.liveMappings(`tel:+1415555000${i}`);
          inside.add(i);
          if (inside.size === 8) allInside();
          const all = await Promise.race([together, giveUpAfter(10_000)]);
          await tx.insertMapping(mapping(i, { csi: `tel:+1415555000${i}` }));
          return all;
        }),
      ),
    );
    expect(sawAll).toEqual(Array(8).fill(true));
    expect((await nodes[0].stats()).mappings).toBe(8);
  });

  it('the same body accepted on two nodes at once is stored once; the second finds the first', async () => {
    const nodes = await twoNodes();
    // As the DP does (csiState, under the CSI's lock): the second waits for the first to commit,
    // then finds its row. Without the lock both would find nothing, and the unique index would
    // refuse the second insert instead.
    let reading = 0;
    const accept = (store: Store) =>
      store.write(async (tx) => {
        reading += 1;
        if ((await tx.csiState(csi, 'k', 'd1')).earlier !== undefined) return 'duplicate';
        await sleep(20);
        await tx.insertMapping(mapping(1));
        return 'accepted';
      });
    const outcomes = await Promise.all([accept(nodes[0]), accept(nodes[1])]);
    expect(reading).toBe(2);
    expect(outcomes.sort()).toEqual(['accepted', 'duplicate']);
    expect((await nodes[1].stats()).mappings).toBe(1);
  });

  it('a challenge attempt is counted once however many nodes check codes at once', async () => {
    const nodes = await twoNodes();
    await nodes[0].write((tx) =>
      tx.insertChallenge({
        id: 'c1',
        csi,
        holderKey: 'k',
        method: 'sms-otp',
        codeHash: 'h',
        createdAt: 1,
        expiresAt: 2,
        attempts: 0,
        state: 'pending',
      }),
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        nodes[i % 2]!.write(async (tx) => {
          const c = await tx.challenge('c1');
          await sleep(5);
          await tx.updateChallenge('c1', c!.attempts + 1, 'pending');
        }),
      ),
    );
    expect(await nodes[0].write((tx) => tx.challenge('c1'))).toMatchObject({ attempts: 10 });
  });

  it('log appends from two nodes form one sequence', async () => {
    const nodes = await twoNodes();
    const hash = (b: number) => new Uint8Array(32).fill(b);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        nodes[i % 2]!.write(async (tx) => {
          const head = await tx.logHead();
          await sleep(3);
          await tx.appendLog([{ index: head.size, data: Uint8Array.of(i), hash: hash(i), time: i }], [], {
            size: head.size + 1,
            edge: [],
          });
        }),
      ),
    );
    expect((await nodes[1].logHead()).size).toBe(10);
    expect((await nodes[1].logLeaves(0, 100)).map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("a transaction's head follows its own appends; a rolled-back append leaves nothing for the next", async () => {
    const [a, b] = await twoNodes();
    const hash = (n: number) => new Uint8Array(32).fill(n);
    const leaf = (index: number) => ({ index, data: Uint8Array.of(index), hash: hash(index), time: index });
    const heads = await a.write(async (tx) => {
      const seen = [(await tx.logHead()).size];
      await tx.appendLog([leaf(0)], [], { size: 1, edge: [hash(0)] });
      seen.push((await tx.logHead()).size);
      await tx.appendLog([leaf(1)], [{ level: 1, index: 0, hash: hash(9) }], { size: 2, edge: [hash(9)] });
      seen.push((await tx.logHead()).size);
      return seen;
    });
    expect(heads).toEqual([0, 1, 2]);
    const undone = new Error('undone');
    await expect(
      a.write(async (tx) => {
        await tx.appendLog([leaf(2)], [], { size: 3, edge: [hash(9), hash(2)] });
        throw undone;
      }),
    ).rejects.toBe(undone);
    // The other node, and this one, see the head and leaves of the committed write only.
    for (const node of [b, a]) {
      const head = await node.write((tx) => tx.logHead());
      expect(head.size).toBe(2);
      expect(head.edge.map((h) => h[0])).toEqual([9]);
      expect((await node.logLeaves(0, 10)).map((l) => l.index)).toEqual([0, 1]);
    }
  });
});

describe.skipIf(!available)('PostgreSQL store: the database goes away and comes back', () => {
  let relay: Relay | undefined;
  let store: PostgresStore | undefined;
  let schema = '';
  afterEach(async () => {
    await relay?.cut();
    await store?.close();
    if (schema !== '') await dropSchema(postgresUrl!, schema);
    relay = undefined;
    store = undefined;
    schema = '';
  });

  it('an unreachable database at start-up is store-unavailable', async () => {
    const dead = new Relay('127.0.0.1', 1);
    await dead.start();
    const url = new URL(postgresUrl!);
    url.host = `127.0.0.1:${dead.port}`;
    await dead.cut();
    const err = await PostgresStore.open(postgresOptions({ url: url.href, connectionTimeoutMs: 1000 })).catch(
      (e) => e,
    );
    expect(isMimiError(err, 'store-unavailable')).toBe(true);
    expect(err.status).toBe(503);
  });

  it('requests fail with store-unavailable while it is down and succeed once it is back; nothing acknowledged is lost', async () => {
    const url = new URL(postgresUrl!);
    relay = new Relay(url.hostname, Number(url.port || 5432));
    await relay.start();
    url.host = `127.0.0.1:${relay.port}`;
    schema = testSchema();
    store = await PostgresStore.open(
      postgresOptions({ url: url.href, schema, poolSize: 4, connectionTimeoutMs: 1000 }),
    );
    const s = store;
    await s.write((tx) => tx.insertMapping(mapping(1)));

    // A write in flight when the database goes: it fails, and did not land.
    let inWrite!: () => void;
    const entered = new Promise<void>((r) => {
      inWrite = r;
    });
    let wasCut!: () => void;
    const cut = new Promise<void>((r) => {
      wasCut = r;
    });
    const doomed = s.write(async (tx) => {
      await tx.insertMapping(mapping(2));
      inWrite();
      await cut;
      await tx.insertMapping(mapping(3));
    });
    const doomedResult = doomed.catch((e) => e);
    await entered;
    await relay.cut();
    wasCut();
    const failures = [
      await doomedResult,
      await s.mapping('m1').catch((e) => e),
      await s.write((tx) => tx.insertMapping(mapping(4))).catch((e) => e),
      await s.activeMappings([csi], 0).catch((e) => e),
    ];
    for (const err of failures) {
      expect(isMimiError(err, 'store-unavailable'), String(err)).toBe(true);
      expect(err.extra).toMatchObject({ retryAfter: 1 });
    }

    await relay.start(); // same port
    expect(await s.mapping('m1')).toMatchObject({ id: 'm1' });
    await s.write((tx) => tx.insertMapping(mapping(4)));
    const ids = (await s.activeMappings([csi], 0)).get(csi)!.map((m) => m.id);
    expect(ids.sort()).toEqual(['m1', 'm4']);
  });
});

describe.skipIf(!available)('PostgreSQL test stores', () => {
  it('each gets a schema of its own, dropped on close', async () => {
    const a = await openPostgresTestStore();
    const b = await openPostgresTestStore();
    await a.write((tx) => tx.insertMapping(mapping(1)));
    expect((await b.stats()).mappings).toBe(0);
    await a.close();
    await b.close();
  });
});
