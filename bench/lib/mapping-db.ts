import { readDevnet, readJwkFile } from '../../src/cli/devnet-files.js';
import type { KeyPair } from '../../src/crypto/keys.js';
import { sha256 } from '../../src/crypto/sign.js';
import { KeyedPseudonyms } from '../../src/dp/log-pseudonym.js';
import { TransparencyLog } from '../../src/dp/transparency-log.js';
import { logOrigin } from '../../src/protocol/transparency.js';
import { configDefaults, loadConfig } from '../../src/server/config.js';
import { besideDpKey, readOrCreateSecretFile } from '../../src/server/secret-file.js';
import type { Store, StoredMapping } from '../../src/store/store.js';
import { LogLeafKind } from '../../src/tlog/leaf.js';
import { benchCsi } from './fixtures.js';
import type { SignerPool } from './signer-pool.js';

/**
 * Bench databases of accepted mappings, written through the Store interface with the rows
 * DiscoveryProvider.accept writes for a first holder: the holder key, the countersigned mapping
 * (whose signed `logIndex` is i for the i-th CSI) and its transparency-log leaf (the real
 * TransparencyLog sequencer: leaf, completed subtrees and tree head, in the same transaction).
 * Mapping i is benchCsi(i), so a database of n mappings holds CSIs 0..n-1 and can be extended.
 */
export interface BenchLogKeys {
  federation: string;
  dpId: string;
  dpKey: KeyPair;
  /** The node's log pseudonym key (keys/<dp>.log-pseudonym.key): leaves equal the node's own. */
  pseudonymKey: Uint8Array;
}

/** The log keys of the DP of the devnet in `devnetDir`, as its node reads them (createTransparency). */
export function devnetLogKeys(devnetDir: string): BenchLogKeys {
  const loaded = loadConfig(readDevnet(devnetDir).configFile);
  return {
    federation: 'devnet',
    dpId: loaded.config.dp.id,
    // Checkpoints are signed with the log key (dp.keyFiles.log; dp.keyFile under a v1 registry).
    dpKey: readJwkFile(loaded.path(loaded.config.dp.keyFiles?.log ?? loaded.config.dp.keyFile!)),
    pseudonymKey: readOrCreateSecretFile(besideDpKey(loaded, 'log-pseudonym.key'), 'log.pseudonymKeyFile'),
  };
}

export function benchLog(store: Store, keys: BenchLogKeys, now: number): TransparencyLog {
  const origin = logOrigin(keys.federation, keys.dpId);
  return new TransparencyLog({
    store,
    origin,
    signer: { name: origin, privateKey: keys.dpKey.privateKey },
    pseudonyms: new KeyedPseudonyms(keys.pseudonymKey),
    checkpointIntervalMs: configDefaults.log.checkpointIntervalMs,
    subtreeCacheBytes: configDefaults.log.subtreeCacheBytes,
    proofCacheBytes: configDefaults.log.proofCacheBytes,
    now: () => now,
  });
}

/** Writes consecutive rows (row k has log index `first + k`) in one transaction. */
export async function writeRows(
  store: Store,
  log: TransparencyLog,
  rows: readonly StoredMapping[],
  first: number,
): Promise<void> {
  await store.write(async (tx) => {
    const head = await tx.logHead();
    if (head.size !== first)
      throw new Error(`log size ${head.size}, expected ${first}: the database is not a bench database`);
    for (const row of rows) {
      await tx.insertHolderKey({ csi: row.csi, key: row.holderKey, group: row.holderGroup, retired: false });
      await tx.insertMapping(row);
    }
    const indexes = await log.appendMany(
      tx,
      rows.map((r) => ({
        kind: LogLeafKind.Mapping,
        csi: r.csi,
        time: r.acceptedAt,
        commitment: sha256(r.json),
      })),
    );
    indexes.forEach((ix, k) => {
      if (ix !== first + k) throw new Error(`leaf ${ix} for mapping ${first + k}`);
    });
  });
}

/** How many bench mappings the store holds (checked against the log). */
export async function benchCount(store: Store): Promise<number> {
  const { mappings } = await store.stats();
  const { size } = await store.logHead();
  if (mappings !== size) {
    throw new Error(`${mappings} mappings but ${size} log leaves: not a bench database (delete it)`);
  }
  return mappings;
}

/**
 * Signs (in the pool's threads) and writes mappings until the store holds `target`, in
 * `chunk`-row transactions, in order. Resumable: every committed chunk stays, and a later call
 * goes on from the count found. Returns how many were added and the wall time.
 */
export async function extendMappings(opts: {
  store: Store;
  log: TransparencyLog;
  pool: SignerPool;
  target: number;
  chunk?: number;
  progress?: (done: number, target: number, rate: number) => void;
}): Promise<{ added: number; seconds: number; start: number }> {
  const chunk = opts.chunk ?? 2000;
  const start = await benchCount(opts.store);
  const t0 = performance.now();
  let next = start;
  let lastReport = t0;
  // Keep every thread fed (two jobs each) while this thread writes the chunks in order.
  const inFlight: Promise<StoredMapping[]>[] = [];
  let issued = start;
  const issue = () => {
    while (inFlight.length < opts.pool.threads * 2 && issued < opts.target) {
      const to = Math.min(opts.target, issued + chunk);
      inFlight.push(opts.pool.rows(issued, to));
      issued = to;
    }
  };
  issue();
  while (next < opts.target) {
    const rows = await inFlight.shift()!;
    issue();
    await writeRows(opts.store, opts.log, rows, next);
    next += rows.length;
    const now = performance.now();
    if (opts.progress !== undefined && (now - lastReport > 10_000 || next === opts.target)) {
      lastReport = now;
      opts.progress(next, opts.target, (next - start) / ((now - t0) / 1000));
    }
  }
  return { added: next - start, seconds: (performance.now() - t0) / 1000, start };
}

/**
 * Copies the first `count` bench mappings of `from` into the empty store `to`, with the same log
 * leaves (same pseudonym key, same records): the same stored data on another backend. The rows
 * go in `parallel` transactions at a time (different CSIs never wait for each other); the log,
 * which is one sequence, is appended afterwards in order, in large batches.
 */
export async function copyMappings(opts: {
  from: Store;
  to: Store;
  log: TransparencyLog;
  count: number;
  now: number;
  batch?: number;
  parallel?: number;
  progress?: (done: number) => void;
}): Promise<number> {
  const batch = opts.batch ?? 250;
  const parallel = opts.parallel ?? 4;
  const have = await benchCount(opts.to);
  if (have !== 0) throw new Error(`the target store holds ${have} mappings already`);
  const t0 = performance.now();
  const entries: { kind: typeof LogLeafKind.Mapping; csi: string; time: number; commitment: Uint8Array }[] =
    [];
  const writing = new Set<Promise<void>>();
  for (let first = 0; first < opts.count; first += batch) {
    const csis = Array.from({ length: Math.min(batch, opts.count - first) }, (_, k) => benchCsi(first + k));
    const found = await opts.from.activeMappings(csis, opts.now);
    const rows = csis.map((csi) => {
      const r = found.get(csi);
      if (r?.length !== 1) throw new Error(`${csi}: ${r?.length ?? 0} mappings in the source`);
      return r[0]!;
    });
    for (const r of rows) {
      entries.push({ kind: LogLeafKind.Mapping, csi: r.csi, time: r.acceptedAt, commitment: sha256(r.json) });
    }
    const w = opts.to
      .write(async (tx) => {
        for (const row of rows) {
          await tx.insertHolderKey({
            csi: row.csi,
            key: row.holderKey,
            group: row.holderGroup,
            retired: false,
          });
          await tx.insertMapping(row);
        }
      })
      .then(() => {
        writing.delete(w);
      });
    writing.add(w);
    if (writing.size >= parallel) await Promise.race(writing);
    if ((first / batch) % 80 === 79) opts.progress?.(first + rows.length);
  }
  await Promise.all(writing);
  for (let first = 0; first < entries.length; first += 5000) {
    await opts.to.write(async (tx) => {
      const indexes = await opts.log.appendMany(tx, entries.slice(first, first + 5000));
      if (indexes[0] !== first) throw new Error(`leaf ${indexes[0]} for mapping ${first}`);
    });
  }
  return (performance.now() - t0) / 1000;
}
