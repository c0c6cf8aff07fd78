/**
 * The served-rows cache (src/dp/served-cache.ts) on its own, in this process: how many bytes of
 * V8 heap a cached CSI takes, against what the cache counts for it (`mimi_cache_bytes`), and what
 * a compact read of 100 cached CSIs costs. Run on a database kept by `bench/single-node.ts --keep`:
 *   node --expose-gc --import tsx bench/served-cache.ts <folder>/dp1.db
 * (a copy is read; the file is never written). Prints `name: value unit` lines.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServedCache } from '../src/dp/served-cache.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import { configDefaults } from '../src/server/config.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const source = process.argv[2];
if (source === undefined || !existsSync(source)) throw new Error('usage: served-cache.ts <dp1.db>');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run node with --expose-gc');

const dir = mkdtempSync(join(tmpdir(), 'mimi-served-'));
const path = join(dir, 'dp1.db');
copyFileSync(source, path);
const store = new SqliteStore({ ...configDefaults.store.sqlite, path });
try {
  const now = nowSeconds();
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const cache = new ServedCache(2 ** 40);
  const before = heap();
  const t0 = performance.now();
  const csis = await cache.warm(store, now);
  const warmMs = performance.now() - t0;
  const held = heap() - before;
  console.log(`served_cache_csis: ${csis}`);
  console.log(`served_cache_warm: ${(warmMs / 1000).toFixed(1)} s`);
  console.log(`served_cache_heap_per_csi: ${Math.round(held / csis)} B (V8 heap held)`);
  console.log(`served_cache_counted_per_csi: ${Math.round(cache.bytes / csis)} B (what the cache counts)`);

  // Compact reads through the cache: 100 cached CSIs a read, as a full batch asks.
  const cached = cache.wrap(store);
  const all: string[] = await store.write((tx) => tx.servedCsisAfter(null, csis, now));
  const reads = 2_000;
  // Each batch as a request body, parsed afresh for each read: the node reads CSIs it has just
  // parsed, strings whose hash nobody has computed yet.
  const bodies = Array.from({ length: reads }, (_, i) =>
    JSON.stringify(Array.from({ length: 100 }, (_, k) => all[(i * 7919 + k * 104_729) % all.length]!)),
  );
  const compact = { json: false, keys: false };
  for (const b of bodies.slice(0, 200)) await cached.servedMappings(JSON.parse(b), now, compact);
  const t1 = performance.now();
  for (const b of bodies) await cached.servedMappings(JSON.parse(b), now, compact);
  const us = ((performance.now() - t1) * 1000) / (reads * 100);
  console.log(
    `served_cache_read_per_csi: ${us.toFixed(2)} us (100-CSI compact reads, all cached, each batch parsed from JSON)`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
