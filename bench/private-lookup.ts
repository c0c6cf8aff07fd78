/**
 * Private lookup benchmark (issue 4). Run with `npx tsx bench/private-lookup.ts` (about 2-3 min).
 * Prints plain `name: value unit` lines:
 *
 *   1. baseline: raw libsodium crypto_scalarmult_ristretto255 per second, one core
 *   2. server evaluations per second through POST /v1/private/evaluate, batches of 1,000, from a
 *      separate client process (ratio to 1; target at least 70%)
 *   3. a 1,000-CSI contact sync end to end on loopback against 1,000,000 stored CSIs: blind,
 *      evaluate, finalise, download buckets, open, verify every mapping (target under 0.5 s).
 *      The 1,000 CSIs are real signed mappings; the other 999,000 index entries are synthetic
 *      (random tags and payloads of the real size, written straight into the index).
 *      Printed with its phase breakdown (the phases overlap: each is when it finished, from the
 *      start) and the client thread's CPU time per step. Two set-ups: `contact_sync_1000`, the
 *      client pinned to core 1 and verifying on its own thread (as before the verify pool);
 *      `contact_sync_1000_workers`, the client allowed both cores (the server stays pinned to
 *      core 0, so they share it) with two verify worker threads.
 *   4. the index build rate of a key rotation, over real mappings
 *
 * The server runs in a child process (`--serve <config>`) pinned to core 0 when `taskset` exists;
 * this process, the client, pins itself to core 1 (and to both cores for `contact_sync_1000_workers`).
 * BENCH_PROFILE_DIR=<dir> writes a CPU profile of the server there.
 */

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sodium from 'libsodium-wrappers-sumo';
import { readDevnet, readJwkFile, writeDevnet } from '../src/cli/devnet-files.js';
import { verifyVerboseAnswer } from '../src/client/lookup-client.js';
import { MspAgent } from '../src/client/msp-agent.js';
import {
  MemoryOprfCache,
  PrivateLookupClient,
  type PrivateLookupOptions,
} from '../src/client/private-lookup.js';
import { generateKeyPair } from '../src/crypto/keys.js';
import { createSodiumOprfClient, nobleOprfClient } from '../src/crypto/oprf-client-sodium.js';
import { createOprfServer, generateKeyPair as oprfKeyPair, ready } from '../src/crypto/oprf-server.js';
import { chooseBucketBits } from '../src/crypto/private-entry.js';
import { digest, SignPurpose, signObject } from '../src/crypto/sign.js';
import { MAX_BUCKET_BITS } from '../src/dp/private-index.js';
import type { VerboseAnswer } from '../src/protocol/answers.js';
import { toB64u } from '../src/protocol/encoding.js';
import type { MappingBody } from '../src/protocol/records.js';
import { Registry, type RegistryDocument } from '../src/registry/document.js';
import { buildApp, listen } from '../src/server/app.js';
import { loadConfig, type NodeConfig } from '../src/server/config.js';
import { createContext } from '../src/server/context.js';
import { signAttestation } from '../src/verifier/attestation.js';

const STORED = Number(process.env.BENCH_STORED ?? 1_000_000);
const REAL = Number(process.env.BENCH_REAL ?? 5_000);
const SYNC = 1_000;
const K = Number(process.env.BENCH_K ?? 16);

function line(name: string, value: number | string, unit = ''): void {
  console.log(
    `${name}: ${typeof value === 'number' ? (Number.isInteger(value) ? value : value.toFixed(3)) : value}${unit ? ` ${unit}` : ''}`,
  );
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const writeJson = (file: string, value: unknown) => writeFileSync(file, JSON.stringify(value, null, 2));

function freePortish(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

function pin(pid: number, cores: number | string): void {
  try {
    execFileSync('taskset', ['-a', '-cp', String(cores), String(pid)], { stdio: 'ignore' });
  } catch {
    // No taskset: unpinned.
  }
}

async function serve(configFile: string): Promise<void> {
  const ctx = await createContext(loadConfig(configFile));
  const app = buildApp(ctx);
  await listen(app, ctx);
  process.once('SIGTERM', () => {
    app
      .close()
      .then(() => ctx.close())
      .finally(() => process.exit(0));
  });
  process.stdout.write('READY\n');
}

function measure(fn: () => void, ms = 1500): number {
  const warm = performance.now() + 200;
  while (performance.now() < warm) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serve(process.argv[3]!);
  pin(process.pid, 1);
  await ready();
  await sodium.ready;

  // 1. Baseline.
  const { secretKey } = oprfKeyPair();
  const element = sodium.crypto_core_ristretto255_random();
  const baseline = measure(() => sodium.crypto_scalarmult_ristretto255(secretKey, element));
  line('baseline_libsodium_scalarmult', Math.round(baseline), 'ops/s');

  // Set-up: a devnet whose DP accepts REAL real mappings, rotates once (timed), and then gets
  // synthetic entries up to STORED in its active epoch.
  const dir = mkdtempSync(join(tmpdir(), 'mimi-bench-private-'));
  const port = await freePortish();
  writeDevnet(dir, { port });
  const layout = readDevnet(dir);
  const config = readJson<NodeConfig>(layout.configFile);
  config.privateLookup = {
    kAnonymity: K,
    overlapSeconds: 0,
    maxEvaluateBatch: 1000,
    mspEvaluations: { points: 1_000_000_000, perSeconds: 3600 },
    bucketRequestsPerMinute: 10_000_000,
  };
  config.limits = { callerPointsPerMinute: 2_000_000_000, anonymousPerMinute: 1_000_000 };
  writeJson(layout.configFile, config);
  const loaded = loadConfig(layout.configFile);
  const ctx = await createContext(loaded);
  const registry = Registry.open(readJson<RegistryDocument>(join(dir, 'registry.json')), layout.registryKey, {
    now: Math.floor(Date.now() / 1000),
  });
  const verifierKey = readJwkFile(join(dir, 'keys', 'verifier1.jwk'));
  const mspKey = readJwkFile(layout.msps[0]!.keyFile);
  const csis: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < REAL; i++) {
    const csi = `tel:+1415${String(2_000_000 + i * 7).padStart(7, '0')}`;
    csis.push(csi);
    const holder = generateKeyPair();
    const now = Math.floor(Date.now() / 1000);
    const attestation = signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: now,
        lifetimeSeconds: 30 * 86_400,
      },
      verifierKey.privateKey,
    );
    const body: MappingBody = {
      v: 1,
      csi,
      msp: 'msp1',
      ssi: `mimi://chat.example/u/user${i}`,
      tag: 'Default',
      priority: 0,
      holderKey: holder.publicKey,
      attestation: digest(attestation),
      createdAt: now,
      expiresAt: now + 20 * 86_400,
      supersedes: null,
    };
    await ctx.dp.accept({
      body,
      attestation,
      holderSig: signObject(SignPurpose.MappingHolder, body, holder.privateKey),
      mspSig: signObject(SignPurpose.MappingMsp, body, mspKey.privateKey),
    });
  }
  line(
    'setup_real_mappings_accepted',
    REAL,
    `(${((REAL * 1000) / (performance.now() - t0)).toFixed(0)} accepts/s with the index hook)`,
  );

  // 4. Index build rate of a rotation (real mappings: query, render, OPRF Evaluate, deflate, AES-GCM, insert).
  const index = ctx.privateLookup!.index;
  const tb = performance.now();
  const epoch = await index.rotate();
  const buildSeconds = (performance.now() - tb) / 1000;
  line(
    'rotation_index_build',
    Math.round(REAL / buildSeconds),
    `entries/s (${REAL} CSIs in ${buildSeconds.toFixed(2)} s)`,
  );
  await index.retireDue();

  // Synthetic fill up to STORED entries, then fix the bucket bits as activation does.
  const tf = performance.now();
  const { modalPayloadLength } = await ctx.store.privateIndexStats(epoch, 0);
  const chunk = 50_000;
  const pool = randomBytes(modalPayloadLength + 4096);
  for (let done = REAL; done < STORED; done += chunk) {
    const n = Math.min(chunk, STORED - done);
    const tags = randomBytes(16 * n);
    const keys = randomBytes(4 * n);
    await ctx.store.write(async (tx) => {
      for (let i = 0; i < n; i++) {
        const off = (i * 61) % 4096;
        await tx.putPrivateEntry(
          epoch,
          {
            bucketKey: keys.readUInt32BE(4 * i),
            tag: tags.subarray(16 * i, 16 * i + 16),
            payload: pool.subarray(off, off + modalPayloadLength),
          },
          0,
        );
      }
    });
  }
  const stats = await ctx.store.privateIndexStats(epoch, MAX_BUCKET_BITS);
  const { bits, min } = chooseBucketBits(stats.counts, K);
  const total = stats.counts.reduce((a, b) => a + b, 0);
  const padTo = Math.ceil(Math.max(K, Math.ceil(total / 2 ** bits)) / 8) * 8;
  await ctx.store.write((tx) => tx.updateOprfEpoch(epoch, { bucketBits: bits, minBucket: min, padTo }));
  line('setup_index_entries', total, `(synthetic fill ${((performance.now() - tf) / 1000).toFixed(1)} s)`);
  line(
    'setup_bucket_bits',
    bits,
    `(${2 ** bits} buckets, k=${K}, smallest bucket ${min}, padded to ${padTo}; entries of ${modalPayloadLength + 18} bytes)`,
  );
  // What one more bit would do: half the download, but the smallest bucket below k real entries
  // (dummies do not count: the DP knows which entries are dummies).
  if (bits < MAX_BUCKET_BITS) {
    const shift = MAX_BUCKET_BITS - (bits + 1);
    const finer = new Array<number>(2 ** (bits + 1)).fill(0);
    stats.counts.forEach((n, i) => {
      finer[i >>> shift]! += n;
    });
    line(
      'setup_bucket_bits_plus_one',
      bits + 1,
      `(not used: smallest bucket would hold ${Math.min(...finer)} real entries, ${finer.filter((n) => n < K).length} buckets below k=${K})`,
    );
  }
  await ctx.close();
  const dbBytes = ['dp1.db', 'dp1.db-wal'].reduce((a, f) => {
    try {
      return a + statSync(join(dir, f)).size;
    } catch {
      return a;
    }
  }, 0);
  line('setup_db_size', Math.round(dbBytes / 2 ** 20), 'MiB');

  // The server under test, in its own process.
  const child = spawn(
    process.execPath,
    [
      // BENCH_PROFILE_DIR=dir: a CPU profile of the server (written when it stops).
      ...(process.env.BENCH_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
        : []),
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      '--serve',
      layout.configFile,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  pin(child.pid!, 0);
  try {
    const dp = { baseUrl: layout.endpoint, id: 'dp1', timeoutMs: 60_000 };
    const agent = new MspAgent({
      id: 'msp3',
      key: readJwkFile(layout.msps[2]!.keyFile),
      dp,
      registry: () => registry,
      isOwnUser: () => true,
    });
    const token = await agent.sessionToken();

    // 2. Server evaluations per second through the endpoint.
    const sodiumClient = await createSodiumOprfClient();
    const batch = sodiumClient.blindBatch(
      Array.from({ length: 1000 }, (_, i) => new TextEncoder().encode(`x${i}`)),
    );
    const body = JSON.stringify({ v: 1, epoch, elements: batch.map((b) => toB64u(b.blindedElement)) });
    const post = async () => {
      const res = await fetch(`${layout.endpoint}/v1/private/evaluate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      if (res.status !== 200) throw new Error(`evaluate: HTTP ${res.status}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 3; i++) await post();
    let evaluated = 0;
    const start = performance.now();
    const until = start + 4000;
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (performance.now() < until) {
          await post();
          evaluated += 1000;
        }
      }),
    );
    const evalRate = (evaluated * 1000) / (performance.now() - start);
    line('http_evaluations', Math.round(evalRate), 'evaluations/s (batches of 1000)');
    line('http_evaluations_vs_baseline', `${((100 * evalRate) / baseline).toFixed(1)}`, '% (target >= 70%)');

    // 3. Contact sync, 1,000 real CSIs among STORED entries, cold cache, libsodium client engine.
    const sync = csis.slice(0, SYNC);
    type Stats = NonNullable<PrivateLookupClient['lastStats']>;
    const phases = (s: Stats) =>
      `evaluate done ${s.ms.evaluate.toFixed(0)} ms, buckets done ${s.ms.buckets.toFixed(0)} ms, verify done ${s.ms.verify.toFixed(0)} ms; ` +
      `client thread: blind ${s.ms.cpu.blind.toFixed(0)} ms, finalize ${s.ms.cpu.finalize.toFixed(0)} ms, open+verify ${s.ms.cpu.verify.toFixed(0)} ms` +
      (s.ms.cpu.workers > 0 ? `, on workers ${s.ms.cpu.workers.toFixed(0)} ms (wall)` : '') +
      `; ${s.buckets} buckets in ${s.bucketRequests} requests, ${(s.bytes / 2 ** 20).toFixed(1)} MiB`;
    // One client per set-up: a warm-up sync (JIT, connections, worker threads), then a cold one
    // (its cache emptied), then a repeat on the filled cache.
    const syncs = async (engine: typeof sodiumClient, extra: Partial<PrivateLookupOptions>) => {
      const cache = new MemoryOprfCache();
      const client = new PrivateLookupClient({
        dp,
        registry: () => registry,
        credential: () => token,
        cache,
        oprf: engine,
        ...extra,
      });
      const run = async () => {
        const ts = performance.now();
        const results = await client.lookup(sync);
        const seconds = (performance.now() - ts) / 1000;
        if (results.some((r) => r.status !== 'one')) throw new Error('a synced CSI was not found');
        return { seconds, stats: client.lastStats! };
      };
      try {
        await run();
        cache.retain('dp1', []);
        const cold = await run();
        const again = await run();
        return { cold, again };
      } finally {
        await client.close();
      }
    };
    const one = await syncs(sodiumClient, {});
    pin(process.pid, '0,1');
    const both = await syncs(sodiumClient, { verifyThreads: 2 });
    pin(process.pid, 1);
    line(
      'contact_sync_1000',
      one.cold.seconds,
      `s (libsodium client on core 1, verifying on its own thread; target < 0.5 s; ${phases(one.cold.stats)})`,
    );
    line(
      'contact_sync_1000_repeat',
      one.again.seconds,
      `s (cached outputs: ${one.again.stats.evaluated} evaluations charged; ${phases(one.again.stats)})`,
    );
    line(
      'contact_sync_1000_workers',
      both.cold.seconds,
      `s (client allowed both cores, sharing core 0 with the server, 2 verify workers; ${phases(both.cold.stats)})`,
    );
    const noble = await syncs(nobleOprfClient, {});
    line('contact_sync_1000_noble', noble.cold.seconds, 's (pure-JS noble client, core 1)');

    // Where a cold sync's client time goes (measured here, on the client core).
    const inputs = sync.map((c) => new TextEncoder().encode(c));
    const server = await createOprfServer(secretKey);
    const blinded0 = sodiumClient.blindBatch(inputs);
    const z = server.blindEvaluate(blinded0.map((b) => b.blindedElement));
    const tc = performance.now();
    const blinded = sodiumClient.blindBatch(inputs);
    const tb1 = performance.now();
    sodiumClient.finalizeBatch(
      inputs,
      blinded.map((b) => b.blind),
      z,
    );
    const tf1 = performance.now();
    line('part_client_blind_1000', (tb1 - tc) / 1000, 's (libsodium)');
    line('part_client_finalize_1000', (tf1 - tb1) / 1000, 's (libsodium, one batched inversion)');
    const plain = await agent.lookup(sync.slice(0, 100));
    const answer: VerboseAnswer = {
      v: 1,
      format: 'verbose',
      dp: 'dp1',
      results: plain.map((r) => ({ query: r.query, csi: r.csi, status: r.status, mappings: r.mappings })),
    };
    const tv = performance.now();
    for (let i = 0; i < 10; i++)
      verifyVerboseAnswer(answer, sync.slice(0, 100), {
        registry,
        policy: {},
        now: Math.floor(Date.now() / 1000),
      });
    line(
      'part_verify_1000_mappings',
      (performance.now() - tv) / 1000,
      's (verifyVerboseAnswer, shared with the plain lookup)',
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
