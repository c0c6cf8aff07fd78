/**
 * What a verbose lookup must read from SQLite, on its own, in this process: the floor the store
 * sets under a verbose answer (issue 16). A verbose answer of a CSI carries its signed record and
 * its log leaf, which are not held in memory (2.4 kB a CSI against the memory bound); this reads
 * them as the node does, through the store's own calls, 100 random CSIs a read (a batch) and one
 * (a single lookup), and beside them the bare index walk (a count of the same rows), to show what
 * the row decoding adds.
 * Run on a database kept by `bench/single-node.ts --keep`:
 *   npx tsx bench/store-reads.ts <folder>/dp1.db
 * (a copy is read; the file is never written). Prints `name: value unit` lines, CPU time per CSI.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { logPosition } from '../src/dp/lookup-proofs.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import { configDefaults } from '../src/server/config.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';

const source = process.argv[2];
if (source === undefined || !existsSync(source)) throw new Error('usage: store-reads.ts <dp1.db>');
const seconds = Number(process.argv[3] ?? 3);

const dir = mkdtempSync(join(tmpdir(), 'mimi-reads-'));
const path = join(dir, 'dp1.db');
copyFileSync(source, path);
const store = new SqliteStore({ ...configDefaults.store.sqlite, path });
const bare = new Database(path, { readonly: true });
bare.pragma(`cache_size = -${Math.floor(configDefaults.store.sqlite.cacheBytes / 1024)}`);
try {
  const now = nowSeconds();
  const all: string[] = await store.write((tx) => tx.servedCsisAfter(null, 1_000_000, now));
  const index = new Map<string, number>();
  for (let at = 0; at < all.length; at += 100) {
    for (const [csi, rows] of await store.servedMappings(all.slice(at, at + 100), now)) {
      const p = rows[0] === undefined ? undefined : logPosition(rows[0].json);
      if (p !== undefined) index.set(csi, p.index);
    }
  }
  let seed = 1;
  let size = 100;
  const batch = (): string[] =>
    Array.from({ length: size }, () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return all[seed % all.length]!;
    });
  const count = bare.prepare(
    `SELECT count(*) FROM mappings WHERE csi IN (${new Array(100).fill('?').join(',')}) AND state = 'active' AND expires_at > ?`,
  );
  /** CPU microseconds per CSI of `read` over batches of `size` CSIs, for `seconds`. */
  const cpuPerCsi = async (read: (csis: string[]) => unknown): Promise<number> => {
    for (let i = 0; i < 50; i++) await read(batch());
    const start = process.cpuUsage();
    const until = performance.now() + seconds * 1000;
    let csis = 0;
    while (performance.now() < until) {
      await read(batch());
      csis += size;
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / csis;
  };
  const figures: [string, (csis: string[]) => unknown, string][] = [
    ['store_read_index_walk', (csis) => count.get(...csis, now), 'the rows found, not read (count)'],
    [
      'store_read_served_rows',
      (csis) => store.servedMappings(csis, now, { json: false }),
      'served rows without records (compact, uncached)',
    ],
    [
      'store_read_verbose_rows',
      (csis) => store.servedMappings(csis, now),
      'served rows with their signed records',
    ],
    [
      'store_read_leaves',
      (csis) => store.logLeavesAt(csis.map((c) => index.get(c) ?? 0)),
      "the mappings' log leaves",
    ],
  ];
  console.log(`store_read_csis: ${all.length} CSIs served, ${index.size} with a logged mapping`);
  for (const [name, read, what] of figures) {
    console.log(`${name}: ${(await cpuPerCsi(read)).toFixed(2)} us CPU a CSI (${what}, 100 a read)`);
  }
  size = 1;
  for (const [name, read, what] of figures.slice(2)) {
    console.log(`${name}_single: ${(await cpuPerCsi(read)).toFixed(2)} us CPU a CSI (${what}, one a read)`);
  }
} finally {
  bare.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
