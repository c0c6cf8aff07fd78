/**
 * Transparency-log benchmark (issue 5). One run, one core, plain `name: value unit` lines:
 *
 * - sha256_64B: raw SHA-256 of a 64-byte input per second (node:crypto), the baseline
 * - log_append_*: leaves appended per second by the log component on SQLite (leaf encoding,
 *   pseudonym, leaf and node hashes, leaf/node/head rows), one append per group-committed write
 *   as the DP does it, with a checkpoint signed every second; and in batches per write
 * - accept_*: DiscoveryProvider.accept per second (all signature checks) with and without the log
 * - inclusion_proofs_1M: proofs served per second at 1,000,000 leaves (random leaves, store reads)
 * - proof_bytes / audit_day_*: size of a proof in an answer, and of a day's audit at a given rate
 *
 * Run: npx tsx bench/tlog.ts [--leaves 1000000] [--rate 20]
 */
import { createHash, randomBytes } from 'node:crypto';
import { generateKeyPair } from '../src/crypto/keys.js';
import { KeyedPseudonyms } from '../src/dp/log-pseudonym.js';
import { DiscoveryProvider } from '../src/dp/provider.js';
import { type LogEntry, TransparencyLog } from '../src/dp/transparency-log.js';
import { logOrigin } from '../src/protocol/transparency.js';
import { configDefaults } from '../src/server/config.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { LogLeafKind } from '../src/tlog/leaf.js';
import { numberArg } from './lib/args.js';
import { signedSubmission, tempDevnet } from './lib/fixtures.js';
import { time, timeAsync } from './lib/timing.js';

const LEAVES = numberArg('leaves', 1_000_000);
const RATE = numberArg('rate', 20);

const out = (name: string, value: number, unit: string) =>
  process.stdout.write(`${name}: ${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}\n`);

function sha256Rate(): number {
  const input = randomBytes(64);
  return time(() => createHash('sha256').update(input).digest(), { seconds: 1, chunk: 1000 }).perSecond;
}

function makeLog(store: SqliteStore, intervalMs = 1000) {
  const key = randomBytes(32);
  const origin = logOrigin('bench', 'dp1');
  const { privateKey } = generateKeyPair();
  return new TransparencyLog({
    store,
    origin,
    signer: { name: origin, privateKey },
    pseudonyms: new KeyedPseudonyms(key),
    checkpointIntervalMs: intervalMs,
    subtreeCacheBytes: configDefaults.log.subtreeCacheBytes,
    proofCacheBytes: configDefaults.log.proofCacheBytes,
    now: () => Math.floor(Date.now() / 1000),
  });
}

/** A log over a fresh temporary SQLite store, open and signing checkpoints. */
async function startedLog(): Promise<{ store: SqliteStore; log: TransparencyLog }> {
  const store = new SqliteStore({ ...configDefaults.store.sqlite, path: ':temp:' });
  const log = makeLog(store);
  await log.open();
  log.start();
  return { store, log };
}

const entry = (i: number): LogEntry => ({
  kind: LogLeafKind.Mapping,
  csi: `tel:+1415${String(2_000_000 + (i % 7_000_000)).padStart(7, '0')}`,
  time: 1_700_000_000 + Math.floor(i / 100),
  commitment: createHash('sha256').update(String(i)).digest(),
});

/** One append per write, as DiscoveryProvider does; writes are group-committed by the store. */
async function appendRate(seconds: number): Promise<{ rate: number; checkpoints: number }> {
  const { store, log } = await startedLog();
  let n = 0;
  const { perSecond: rate } = await timeAsync(
    async () => {
      const wave: Promise<number>[] = [];
      for (let i = 0; i < 2000; i++, n++) {
        const e = entry(n);
        wave.push(store.write((tx) => log.append(tx, e)));
      }
      await Promise.all(wave);
      return wave.length;
    },
    { seconds },
  );
  await log.close();
  const cp = await store.latestCheckpoint();
  await store.close();
  return { rate, checkpoints: cp?.size ?? 0 };
}

async function batchAppendRate(seconds: number, batch: number): Promise<number> {
  const { store, log } = await startedLog();
  let n = 0;
  const { perSecond: rate } = await timeAsync(
    async () => {
      const entries = Array.from({ length: batch }, (_, i) => entry(n + i));
      await store.write((tx) => log.appendMany(tx, entries));
      n += batch;
      return batch;
    },
    { seconds },
  );
  await log.close();
  await store.close();
  return rate;
}

async function acceptRate(withLog: boolean, count: number): Promise<number> {
  const { registry, signers, remove } = tempDevnet('mimi-bench-tlog-');
  try {
    const now = Math.floor(Date.now() / 1000);
    const subs = Array.from({ length: count }, (_, i) =>
      signedSubmission(signers, i + (withLog ? 0 : count), now),
    );
    const store = new SqliteStore({ ...configDefaults.store.sqlite, path: ':temp:' });
    const log = withLog ? makeLog(store) : undefined;
    await log?.open();
    log?.start();
    const dp = new DiscoveryProvider({
      id: 'dp1',
      key: signers.dp,
      store,
      registry: () => registry,
      policy: {},
      contestWindowSeconds: configDefaults.policy.contestWindowSeconds,
      now: () => now,
      log,
    });
    let i = 0;
    const { perSecond: rate } = await timeAsync(
      async () => {
        const wave = subs.slice(i, i + 256);
        i += wave.length;
        await Promise.all(wave.map((s) => dp.accept(s)));
        return wave.length;
      },
      { calls: Math.ceil(subs.length / 256) },
    );
    await log?.close();
    await store.close();
    return rate;
  } finally {
    remove();
  }
}

async function proofs(
  leaves: number,
): Promise<{ rate: number; cold: number; proofBytes: number; hashes: number; leafBytes: number }> {
  const store = new SqliteStore({ ...configDefaults.store.sqlite, path: ':temp:' });
  const log = makeLog(store);
  await log.open();
  for (let n = 0; n < leaves; n += 10_000) {
    const entries = Array.from({ length: Math.min(10_000, leaves - n) }, (_, i) => entry(n + i));
    await store.write((tx) => log.appendMany(tx, entries));
  }
  const cp = await log.checkpoint();
  // Cold: a fresh log object (empty node cache) over the same store.
  const fresh = makeLog(store);
  await fresh.open();
  const randomProof = (l: TransparencyLog) => () => l.inclusion(Math.floor(Math.random() * cp.size), cp.size);
  const cold = (await timeAsync(randomProof(fresh), { calls: 2000 })).perSecond;
  const rate = (await timeAsync(randomProof(log), { seconds: 3, chunk: 500 })).perSecond;
  const json = await log.mappingProofJson(cp.size - 12_345);
  const hashes = (await log.inclusion(cp.size - 12_345, cp.size)).length;
  const [leaf] = await store.logLeaves(0, 1);
  await log.close();
  await fresh.close();
  await store.close();
  return { rate, cold, proofBytes: Buffer.byteLength(json), hashes, leafBytes: leaf!.data.length };
}

async function main(): Promise<void> {
  const sha = sha256Rate();
  out('sha256_64B', Math.round(sha), 'hashes/s');
  const one = await appendRate(5);
  out('log_append_one_per_write', Math.round(one.rate), 'appends/s');
  out('log_append_one_per_write_vs_sha256', (one.rate / sha) * 100, '% of baseline');
  const batched = await batchAppendRate(5, 256);
  out('log_append_batch256', Math.round(batched), 'appends/s');
  out('log_append_batch256_vs_sha256', (batched / sha) * 100, '% of baseline');
  const without = await acceptRate(false, 3000);
  const withLog = await acceptRate(true, 3000);
  out('accept_without_log', Math.round(without), 'accepts/s');
  out('accept_with_log', Math.round(withLog), 'accepts/s');
  out('accept_log_overhead', (1 - withLog / without) * 100, '%');
  const p = await proofs(LEAVES);
  out(`inclusion_proofs_${LEAVES}_cold`, Math.round(p.cold), 'proofs/s');
  out(`inclusion_proofs_${LEAVES}`, Math.round(p.rate), 'proofs/s');
  out('inclusion_proofs_vs_sha256', (p.rate / sha) * 100, '% of baseline');
  out('proof_hashes', p.hashes, 'hashes');
  out('proof_bytes_in_answer', p.proofBytes, 'bytes');
  // A day's audit: every leaf (canonical JSON, base64url in the leaves answer) and, polling once a
  // minute, a checkpoint and a consistency proof per poll.
  out('leaf_bytes', p.leafBytes, 'bytes');
  const leafJson = 4 * Math.ceil(p.leafBytes / 3) + 3;
  const perDay = RATE * 86_400;
  const consistencyBytes = 1440 * (2 * Math.ceil(Math.log2(perDay)) * 46);
  const checkpointBytes = 1440 * 200;
  out('audit_day_rate', RATE, 'leaves/s');
  out('audit_day_leaves', perDay, 'leaves');
  out(
    'audit_day_bytes_with_leaves',
    Math.round((perDay * leafJson + consistencyBytes + checkpointBytes) / 1e6),
    'MB',
  );
  out('audit_day_bytes_consistency_only', Math.round((consistencyBytes + checkpointBytes) / 1e3), 'kB');
}

// SqliteStore.close() waits for its (unref'd) checkpointer thread: keep the loop alive meanwhile.
const alive = setInterval(() => undefined, 1000);
await main();
clearInterval(alive);
