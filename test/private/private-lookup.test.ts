import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient, type PrivateLookupOptions } from '../../src/client/private-lookup.js';
import { VerifiedEntries } from '../../src/client/private-verify.js';
import {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../../src/crypto/oprf-client-sodium.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R14, R15: a private lookup returns exactly the verified mappings the plain (MSP-proxied)
 * lookup returns for the same CSI: none, opt-out, one and several, over real HTTP.
 */
describe('private lookup matches the plain lookup', () => {
  let net: RunningDevnet;
  let sodium: OprfClientEngine;
  const bob = 'tel:+14155550101';
  const carol = 'mailto:carol@example.org';
  const dave = 'tel:+14155550102';
  const nobody = 'tel:+14155550150';

  function client(opts: Partial<PrivateLookupOptions> = {}) {
    return new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      ...opts,
    });
  }

  beforeAll(async () => {
    net = await startDevnet();
    sodium = await createSodiumOprfClient();
    const msp1 = net.msp('msp1');
    const msp2 = net.msp('msp2');
    // Bob: two MSPs (several).
    const hb = net.holder();
    const ab = await net.prove(hb, bob);
    await msp1.submit(
      await msp1.confirm(
        hb.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: ab }),
      ),
    );
    await msp2.submit(
      await msp2.confirm(
        hb.signMapping({
          csi: bob,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/bob',
          tag: 'business',
          priority: 3,
          attestation: ab,
        }),
      ),
    );
    // Carol: opted out.
    const hc = net.holder();
    await hc.optOut(await net.prove(hc, carol));
    // Dave: one.
    const hd = net.holder();
    const ad = await net.prove(hd, dave);
    await msp2.submit(
      await msp2.confirm(
        hd.signMapping({ csi: dave, msp: 'msp2', ssi: 'mimi://talk.example/u/dave', attestation: ad }),
      ),
    );
  });
  afterAll(async () => {
    await net.close();
  });

  it('R9, R14: none, opt-out, one and several, equal to the plain lookup (noble client)', async () => {
    const asked = [bob, carol, dave, nobody];
    const plain = await net.msp('msp3').lookup(asked);
    const priv = await client({ oprf: nobleOprfClient }).lookup(asked);
    expect(priv.map((r) => r.status)).toEqual(['several', 'opt-out', 'one', 'none']);
    expect(priv).toEqual(plain);
  });

  it('the libsodium client engine (the default) gives the same answer', async () => {
    const asked = ['+1 415 555 0101', 'Carol@example.org'];
    const plain = await net.msp('msp3').lookup(asked);
    expect(await client({ oprf: sodium }).lookup(asked)).toEqual(plain);
    expect(await client().lookup(asked)).toEqual(plain);
  });

  it('pipelined, batched, single-GET and worker-verified lookups all give the plain answer', async () => {
    const asked = [bob, carol, dave, nobody, bob];
    const plain = await net.msp('msp3').lookup(asked);
    // One CSI per evaluation request: four requests, each settled as soon as it is back.
    const chunked = client({ oprf: sodium, evaluateChunk: 1 });
    expect(await chunked.lookup(asked)).toEqual(plain);
    expect(chunked.lastStats).toMatchObject({ evaluated: 4, cached: 0 });
    const single = client({ oprf: sodium, bucketBatch: false });
    expect(await single.lookup(asked)).toEqual(plain);
    expect(single.lastStats!.bucketRequests).toBe(single.lastStats!.buckets);
    const batched = client({ oprf: sodium });
    expect(await batched.lookup(asked)).toEqual(plain);
    expect(batched.lastStats!.bucketRequests).toBe(1);
    expect(batched.lastStats!.bucketIds.sort()).toEqual(single.lastStats!.bucketIds.sort());
    // Verified on worker threads: the same openAndVerify, the same answer.
    const threaded = client({ oprf: sodium, verifyThreads: 2, evaluateChunk: 2 });
    try {
      expect(await threaded.lookup(asked)).toEqual(plain);
      expect(threaded.lastStats!.ms.cpu.verify).toBe(0);
      expect(threaded.lastStats!.ms.cpu.workers).toBeGreaterThan(0);
    } finally {
      await threaded.close();
    }
    // 'auto': a worker per core beyond the first; on one core, the calling thread verifies.
    const auto = client({ oprf: sodium, verifyThreads: 'auto' });
    try {
      expect(await auto.lookup(asked)).toEqual(plain);
      const onWorkers = availableParallelism() > 1;
      expect(auto.lastStats!.ms.cpu.workers > 0).toBe(onWorkers);
      expect(auto.lastStats!.ms.cpu.verify > 0).toBe(!onWorkers);
    } finally {
      await auto.close();
    }
  });

  it('R22: a contact sync that repeats CSIs spends evaluations on new CSIs only', async () => {
    const cache = new MemoryOprfCache();
    const c = client({ oprf: sodium, cache });
    await c.lookup([bob, carol]);
    expect(c.lastStats).toMatchObject({ evaluated: 2, cached: 0, verifiedBefore: 0 });
    await c.lookup([bob, carol, dave]);
    // The entries of bob and carol are the same bytes as before: their verified answers are reused.
    expect(c.lastStats).toMatchObject({ evaluated: 1, cached: 2, verifiedBefore: 2 });
    const again = await c.lookup([dave, bob, bob]);
    expect(c.lastStats).toMatchObject({ evaluated: 0, cached: 2, verifiedBefore: 2 });
    expect(again).toEqual(await net.msp('msp3').lookup([dave, bob, bob]));
    // An empty contact list spends nothing and asks for no bucket.
    expect(await c.lookup([])).toEqual([]);
    expect(c.lastStats).toMatchObject({ evaluated: 0, cached: 0, buckets: 0 });
  });

  it('a reused verification lasts until the first mapping or attestation in it expires', async () => {
    const [result] = await client({ oprf: sodium }).lookup([bob]);
    const entries = new VerifiedEntries();
    const ctx = { dp: 'dp1', registry: net.registry, policy: {}, now: net.clock.now() };
    const key = VerifiedEntries.keyOf({
      out: new Uint8Array(64).fill(1),
      payload: new Uint8Array([1, 2, 3]),
    });
    entries.set(key, result!, ctx);
    expect(entries.get(key, ctx)).toEqual(result);
    const until = Math.min(
      ...result!.mappings.flatMap((m) => [m.mapping.body.expiresAt, m.mapping.attestation.expiresAt]),
    );
    expect(entries.get(key, { ...ctx, now: until - 1 })).toEqual(result);
    expect(entries.get(key, { ...ctx, now: until })).toBeUndefined();
    expect(
      entries.get(VerifiedEntries.keyOf({ out: new Uint8Array(64), payload: new Uint8Array(3) }), ctx),
    ).toBeUndefined();
  });

  it('R9: the index follows invalidation and replacement in the same transaction', async () => {
    const csi = 'tel:+14155550103';
    const h = net.holder();
    const att = await net.prove(h, csi);
    const msp1 = net.msp('msp1');
    const first = await msp1.submit(
      await msp1.confirm(
        h.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/erin', attestation: att }),
      ),
    );
    const c = client({ oprf: sodium });
    expect((await c.lookup([csi]))[0]?.mappings.map((m) => m.id)).toEqual([first.id]);
    const second = await msp1.submit(
      await msp1.confirm(
        h.signMapping({
          csi,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/erin2',
          attestation: att,
          supersedes: first.id,
        }),
      ),
    );
    expect((await c.lookup([csi]))[0]?.mappings.map((m) => m.id)).toEqual([second.id]);
    // Re-sealed by the replacement: verified again, not taken from the first lookup.
    expect(c.lastStats).toMatchObject({ cached: 1, verifiedBefore: 0 });
    await h.invalidate(csi, null);
    const [after] = await c.lookup([csi]);
    expect(after?.status).toBe('none');
    expect(await c.lookup([csi])).toEqual(await net.msp('msp3').lookup([csi]));
  });

  it('R9: a bucket revalidates on every use, so a cache never hides a mapping published since', async () => {
    const info = await client().epochs();
    const current = info.epochs.find((e) => e.id === info.current)!;
    const csi = 'tel:+14155550104';
    const c = client();
    const [before] = await c.lookup([csi]);
    expect(before?.status).toBe('none');
    const [bucketId] = c.lastStats!.bucketIds;
    const url = `${net.url}/v1/private/buckets/${bucketId}`;
    const first = await fetch(url);
    expect(first.headers.get('cache-control')).toBe('public, no-cache');
    const etag = first.headers.get('etag')!;
    expect((await fetch(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const h = net.holder();
    const msp1 = net.msp('msp1');
    const published = await msp1.submit(
      await msp1.confirm(
        h.signMapping({
          csi,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/fay',
          attestation: await net.prove(h, csi),
        }),
      ),
    );
    // Same bucket (the epoch and its bucket bits are unchanged): a revalidation now gets the new body.
    expect((await client().epochs()).epochs.find((e) => e.id === info.current)?.bucketBits).toBe(
      current.bucketBits,
    );
    const after = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    const [found] = await c.lookup([csi]);
    expect(found?.mappings.map((m) => m.id)).toEqual([published.id]);
  });

  it('R11, R22: the metadata publishes k, bucket counts and budgets', async () => {
    const meta = (await (await fetch(`${net.url}/.well-known/mimi-discovery`)).json()) as {
      modes: string[];
      privateLookup: {
        kAnonymity: number;
        epochs: { bucketCount: number }[];
        budgets: { msp: unknown; anonymous: unknown };
      };
    };
    expect(meta.modes).toContain('private');
    expect(meta.privateLookup.kAnonymity).toBeGreaterThan(0);
    expect(meta.privateLookup.epochs[0]?.bucketCount).toBeGreaterThanOrEqual(1);
    expect(meta.privateLookup.budgets.msp).toBeDefined();
    expect(meta.privateLookup.budgets.anonymous).toBeDefined();
  });
});
