import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { configDefaults } from '../../src/server/config.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { StoredMapping } from '../../src/store/store.js';
import { benchLog, devnetLogKeys, writeRows } from './mapping-db.js';
import type { PrepareJob } from './prepare-child.js';

const childScript = fileURLToPath(new URL('./prepare-child.ts', import.meta.url));

/**
 * Runs one job in a forked process (with the tsx loader this process runs under). The child
 * reports progress every 1,000 items; one that goes silent for 20 s is killed and the job run
 * again from scratch (its output file is rewritten). Under tsx on Node 20 a child was seen to
 * hang for good in a futex wait part-way through, on a busy machine.
 */
function runChild(job: PrepareJob, attempt = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(childScript, [JSON.stringify(job)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    let watchdog: NodeJS.Timeout | undefined;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      if (err === undefined) resolve();
      else reject(err);
    };
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        if (attempt >= 3) return reject(new Error(`prepare child for ${job.path} hung three times`));
        console.log(`note: a prepare child went silent for 20 s; killed it and ran its job again`);
        runChild(job, attempt + 1).then(resolve, reject);
      }, 20_000);
    };
    arm();
    child.on('message', (m: { progress?: number; ok?: boolean; error?: string }) => {
      if (m.progress !== undefined) return arm();
      settle(m.ok ? undefined : new Error(`prepare child failed: ${m.error}`));
    });
    child.on('exit', (code) => settle(new Error(`prepare child exited with ${code}`)));
  });
}

async function runChildren(jobs: PrepareJob[]): Promise<void> {
  await Promise.all(jobs.map((job) => runChild(job)));
}

function slices(from: number, to: number, parts: number): [number, number][] {
  const size = Math.ceil((to - from) / parts);
  const out: [number, number][] = [];
  for (let s = from; s < to; s += size) out.push([s, Math.min(to, s + size)]);
  return out;
}

/**
 * Loads `count` accepted mappings (CSIs 0..count-1) into the node's database: `workers` forked
 * processes sign them into files, then this process writes them through the store's own
 * insertHolderKey / insertMapping in 2,000-row transactions. Returns the seconds spent signing
 * and inserting.
 */
export async function preloadMappings(opts: {
  dir: string;
  dbPath: string;
  count: number;
  now: number;
  workers: number;
}): Promise<{ signSeconds: number; insertSeconds: number }> {
  let t = performance.now();
  const parts = slices(0, opts.count, opts.workers).map(([from, to], i) => ({
    kind: 'preload' as const,
    dir: opts.dir,
    path: join(opts.dir, `preload-${i}.jsonl`),
    from,
    to,
    now: opts.now,
  }));
  await runChildren(parts);
  const signSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const store = new SqliteStore({ ...configDefaults.store.sqlite, path: opts.dbPath });
  // Each mapping with its log leaf, as accept writes it: lookups then carry inclusion proofs.
  const log = benchLog(store, devnetLogKeys(opts.dir), opts.now);
  let written = 0;
  try {
    for (const part of parts) {
      const lines = readFileSync(part.path, 'utf8').split('\n');
      for (let start = 0; start < lines.length; start += 2000) {
        const rows = lines
          .slice(start, start + 2000)
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as StoredMapping);
        await writeRows(store, log, rows, written);
        written += rows.length;
      }
      rmSync(part.path);
    }
  } finally {
    await store.close();
  }
  return { signSeconds, insertSeconds: (performance.now() - t) / 1000 };
}

/** Signs `count` submissions for CSIs from `first` on, in `workers` processes. */
export async function prepareSubmissions(opts: {
  dir: string;
  first: number;
  count: number;
  now: number;
  workers: number;
}): Promise<MappingSubmission[]> {
  const parts = slices(opts.first, opts.first + opts.count, opts.workers).map(([from, to], i) => ({
    from,
    to,
    path: join(opts.dir, `submissions-${i}.jsonl`),
  }));
  await runChildren(
    parts.map((p) => ({
      kind: 'submissions' as const,
      dir: opts.dir,
      path: p.path,
      from: p.from,
      to: p.to,
      now: opts.now,
    })),
  );
  return parts.flatMap((p) =>
    readFileSync(p.path, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as MappingSubmission),
  );
}
