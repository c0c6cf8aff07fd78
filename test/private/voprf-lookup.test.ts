import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyEpochKeyLogged } from '../../src/client/log-verify.js';
import { MemoryOprfCache } from '../../src/client/oprf-cache.js';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { nobleOprfClient } from '../../src/crypto/oprf-client-sodium.js';
import { createOprfServer, generateKeyPair, type OprfServer, ready } from '../../src/crypto/oprf-server.js';
import { LEGACY_KEY_LABEL, PrivateIndex, sealKey } from '../../src/dp/private-index.js';
import { fromB64u, toB64u } from '../../src/protocol/encoding.js';
import { MimiError } from '../../src/protocol/errors.js';
import type { EpochInfo, EpochsAnswer } from '../../src/protocol/private.js';
import { readOrCreateSecretFile } from '../../src/server/secret-file.js';
import { OprfEpochState } from '../../src/store/store.js';
import { decodeLeaf, oprfKeyCommitment } from '../../src/tlog/leaf.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R26: the private lookup runs RFC 9497 in VOPRF mode. Every evaluation batch carries a proof
 * against the epoch's public key, each epoch's key is committed in the DP's transparency log when
 * the epoch is created, and the SDK refuses an evaluation whose proof fails or whose key is not
 * the logged one for its epoch, so a DP cannot evaluate one client under a key of its own (a
 * per-client key) without being caught. Hostile DPs are played by a proxy in front of a real node.
 */

type Rewrite = (path: string, answer: Record<string, unknown>, request: unknown) => unknown;

interface Proxy {
  url: string;
  /** Bucket requests that went through (a refused evaluation must fetch none). */
  buckets: number;
  evaluations: number;
  rewrite: Rewrite | undefined;
  close(): Promise<void>;
}

/** An HTTP proxy to the node that can rewrite its JSON answers: a DP that lies. */
async function startProxy(target: string): Promise<Proxy> {
  const proxy: Proxy = {
    url: '',
    buckets: 0,
    evaluations: 0,
    rewrite: undefined,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', target);
    if (url.pathname.startsWith('/v1/private/buckets')) proxy.buckets++;
    if (url.pathname === '/v1/private/evaluate') proxy.evaluations++;
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'authorization', 'if-none-match']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const upstream = await fetch(url, { method: req.method, headers, body });
    let out = Buffer.from(await upstream.arrayBuffer());
    const type = upstream.headers.get('content-type') ?? 'application/octet-stream';
    if (proxy.rewrite !== undefined && upstream.ok && type.includes('json')) {
      const request = body === undefined ? undefined : JSON.parse(body.toString('utf8'));
      const rewritten = await proxy.rewrite(url.pathname, JSON.parse(out.toString('utf8')), request);
      out = Buffer.from(JSON.stringify(rewritten));
    }
    res.writeHead(upstream.status, { 'content-type': type });
    res.end(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

describe('VOPRF private lookup: proofs and logged epoch keys', () => {
  let net: RunningDevnet;
  let proxy: Proxy;
  /** A key of the DP's own that is not the logged one: the per-client key. */
  let rogue: OprfServer;
  const bob = 'tel:+14155550101';

  const epochs = async (): Promise<EpochsAnswer> =>
    (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as EpochsAnswer;

  function client(cache = new MemoryOprfCache()) {
    return new PrivateLookupClient({
      dp: { baseUrl: proxy.url, id: 'dp1' },
      registry: () => net.registry,
      now: net.clock.now,
      oprf: nobleOprfClient,
      cache,
    });
  }

  /** Runs a lookup through the proxy as rewritten; the refusal's code, and what it cost. */
  async function refused(rewrite: Rewrite): Promise<{ code: string; buckets: number; cached: number }> {
    proxy.rewrite = rewrite;
    proxy.buckets = 0;
    const cache = new MemoryOprfCache();
    try {
      await client(cache).lookup([bob]);
      return { code: 'no-error', buckets: proxy.buckets, cached: cache.size('dp1') };
    } catch (err) {
      return {
        code: err instanceof MimiError ? err.code : `other: ${(err as Error).message}`,
        buckets: proxy.buckets,
        cached: cache.size('dp1'),
      };
    } finally {
      proxy.rewrite = undefined;
    }
  }

  /** Evaluates the request's elements under the rogue key, with a sound proof for that key. */
  function rogueEvaluation(answer: Record<string, unknown>, request: unknown) {
    const elements = (request as { elements: string[] }).elements.map((e) => fromB64u(e, 'e', 32));
    const ev = rogue.blindEvaluate(elements);
    return { ...answer, evaluated: ev.evaluated.map(toB64u), proof: toB64u(ev.proof) };
  }

  const withCurrent = (answer: Record<string, unknown>, edit: (e: EpochInfo) => EpochInfo) => {
    const a = answer as unknown as EpochsAnswer;
    return { ...a, epochs: a.epochs.map((e) => (e.id === a.current ? edit(e) : e)) };
  };

  beforeAll(async () => {
    await ready();
    net = await startDevnet();
    proxy = await startProxy(net.url);
    rogue = await createOprfServer(generateKeyPair().secretKey);
    const msp1 = net.msp('msp1');
    const hb = net.holder();
    await msp1.submit(
      await msp1.confirm(
        hb.signMapping({
          csi: bob,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/bob',
          attestation: await net.prove(hb, bob),
        }),
      ),
    );
  });
  afterAll(async () => {
    await proxy?.close();
    await net?.close();
  });

  it('R9, R26: every served epoch lists its key with its oprf-key leaf, and the metadata names the mode and keys', async () => {
    const info = await epochs();
    expect(info.mode).toBe('voprf');
    for (const e of info.epochs) {
      expect(e.keyLog).toBeDefined();
      const leaf = decodeLeaf(fromB64u(e.keyLog!.leaf, 'leaf'));
      expect(leaf.kind).toBe('oprf-key');
      expect(leaf.epoch).toBe(e.id);
      expect(leaf.commitment).toBe(toB64u(oprfKeyCommitment(e.id, fromB64u(e.publicKey, 'pk', 32))));
      expect(() => verifyEpochKeyLogged(e, 'dp1', { registry: net.registry, policy: {} })).not.toThrow();
    }
    const meta = (await (await fetch(`${net.url}/.well-known/mimi-discovery`)).json()) as {
      privateLookup: { mode: string; epochs: { id: number; publicKey: string }[] };
    };
    expect(meta.privateLookup.mode).toBe('voprf');
    expect(meta.privateLookup.epochs.map((e) => e.publicKey)).toEqual(info.epochs.map((e) => e.publicKey));
  });

  it('an honest DP through the proxy: the lookup verifies and finds bob', async () => {
    proxy.evaluations = 0;
    const [r] = await client().lookup([bob]);
    expect(r!.status).toBe('one');
    expect(proxy.evaluations).toBe(1);
  });

  it('a per-client key shown as the epoch key (proof sound for it) is refused: oprf-key-unlogged, nothing fetched', async () => {
    const r = await refused((path, answer, request) => {
      if (path === '/v1/private/epochs')
        return withCurrent(answer, (e) => ({ ...e, publicKey: toB64u(rogue.publicKey) }));
      if (path === '/v1/private/evaluate') return rogueEvaluation(answer, request);
      return answer;
    });
    expect(r).toEqual({ code: 'oprf-key-unlogged', buckets: 0, cached: 0 });
  });

  it('a per-client key behind the logged epoch key is refused: oprf-proof-invalid, nothing fetched', async () => {
    const r = await refused((path, answer, request) =>
      path === '/v1/private/evaluate' ? rogueEvaluation(answer, request) : answer,
    );
    expect(r).toEqual({ code: 'oprf-proof-invalid', buckets: 0, cached: 0 });
  });

  it('an epoch key without its log proof, or with another leaf or a broken audit path, is refused: oprf-key-unlogged', async () => {
    const edits: ((e: EpochInfo) => EpochInfo)[] = [
      ({ keyLog: _k, ...e }) => e,
      // The right leaf claimed at another index.
      (e) => ({ ...e, keyLog: { ...e.keyLog!, index: e.keyLog!.index + 1 } }),
      // One hash more on the audit path (the path may be empty in a small tree).
      (e) => ({ ...e, keyLog: { ...e.keyLog!, proof: [...e.keyLog!.proof, toB64u(new Uint8Array(32))] } }),
      (e) => ({ ...e, keyLog: { ...e.keyLog!, leaf: toB64u(new TextEncoder().encode('{"v":1}')) } }),
    ];
    for (const edit of edits) {
      const r = await refused((path, answer) =>
        path === '/v1/private/epochs' ? withCurrent(answer, edit) : answer,
      );
      expect(r).toEqual({ code: 'oprf-key-unlogged', buckets: 0, cached: 0 });
    }
  });

  it('a tampered, replayed, truncated or garbage proof is refused: oprf-proof-invalid, nothing fetched', async () => {
    let previous: string | undefined;
    proxy.rewrite = (path, answer) => {
      if (path === '/v1/private/evaluate') previous = answer.proof as string;
      return answer;
    };
    await client().lookup(['tel:+14155550199']);
    expect(previous).toBeDefined();
    const flip = (p: string) => {
      const b = Uint8Array.from(fromB64u(p, 'p', 64));
      b[7]! ^= 0x20;
      return toB64u(b);
    };
    const proofs: ((p: string) => string)[] = [
      flip,
      () => previous!, // the proof of another batch
      (p) => p.slice(0, 40),
      (p) => `${p}AA`,
      () => 'not a proof at all!',
      () => '',
      () => toB64u(new Uint8Array(64)),
    ];
    for (const proof of proofs) {
      const r = await refused((path, answer) =>
        path === '/v1/private/evaluate' ? { ...answer, proof: proof(answer.proof as string) } : answer,
      );
      expect(r).toEqual({ code: 'oprf-proof-invalid', buckets: 0, cached: 0 });
    }
  });

  it('after a rotation the new epoch has its own logged key, and the old leaf shown for it is refused', async () => {
    const before = await epochs();
    const index = net.ctx.privateLookup!.index;
    const id = await index.rotate();
    const after = await epochs();
    expect(after.current).toBe(id);
    const fresh = after.epochs.find((e) => e.id === id)!;
    const old = after.epochs.find((e) => e.id === before.current)!;
    expect(fresh.publicKey).not.toBe(old.publicKey);
    expect(fresh.keyLog!.index).not.toBe(old.keyLog!.index);
    const [r] = await client().lookup([bob]);
    expect(r!.status).toBe('one');
    // The old epoch's genuine leaf and key, offered as the new epoch's: not a key for this epoch.
    const swapped = await refused((path, answer) =>
      path === '/v1/private/epochs'
        ? withCurrent(answer, (e) => ({ ...e, publicKey: old.publicKey, keyLog: old.keyLog }))
        : answer,
    );
    expect(swapped.code).toBe('oprf-key-unlogged');
  });

  it('epochs from before VOPRF (keys sealed under the OPRF label) are retired at open, and a logged VOPRF epoch is built', async () => {
    const store = net.ctx.store;
    const kek = readOrCreateSecretFile(net.ctx.privateLookup!.settings.kekFile, 'kek');
    const now = net.clock.now();
    const live = (await store.oprfEpochs()).filter((e) => e.state !== OprfEpochState.Retired);
    const legacyId = Math.max(...(await store.oprfEpochs()).map((e) => e.id)) + 1;
    const { secretKey, publicKey } = generateKeyPair();
    await store.write(async (tx) => {
      for (const e of live) await tx.updateOprfEpoch(e.id, { state: OprfEpochState.Retired });
      await tx.insertOprfEpoch({
        id: legacyId,
        state: OprfEpochState.Active,
        sealedKey: sealKey(kek, legacyId, secretKey, LEGACY_KEY_LABEL),
        publicKey,
        bucketBits: 0,
        padTo: 0,
        dummyLength: 100,
        minBucket: 0,
        buildCursor: null,
        createdAt: now,
        activatedAt: now,
        retireAt: null,
      });
    });
    const log = net.ctx.transparency!.log;
    const index = new PrivateIndex({
      store,
      dpId: 'dp1',
      kek,
      kAnonymity: 1,
      rotationSeconds: 86_400,
      overlapSeconds: 3600,
      maxEvaluateBatch: 100,
      now: net.clock.now,
      log: () => log,
    });
    await index.open();
    const rows = await store.oprfEpochs();
    expect(rows.find((e) => e.id === legacyId)!.state).toBe(OprfEpochState.Retired);
    expect(index.current()).toBeGreaterThan(legacyId);
    const logs = await index.keyLogs();
    expect(logs.has(index.current())).toBe(true);
    await index.close();
  });
});
