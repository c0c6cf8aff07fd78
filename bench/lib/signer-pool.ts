import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MappingSubmission } from '../../src/protocol/records.js';
import type { StoredMapping } from '../../src/store/store.js';
import type { SignJob } from './sign-worker.js';

interface Pending {
  job: SignJob;
  resolve: (v: unknown[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Pending>;
  watchdog: NodeJS.Timeout | undefined;
}

/**
 * Worker threads that sign bench fixtures (bench/lib/sign-worker.ts) with the devnet's keys in
 * `dir`: every mapping really signed by its fresh holder key, the verifier, the MSP and the DP.
 * Jobs go to the thread with the fewest; each answer comes back whole.
 *
 * Under tsx on Node 20 a thread (like the forked children of bench/lib/prepare.ts) was seen to
 * stop for good in a futex wait part-way through a long run on a busy machine. A thread that has
 * jobs and answers nothing for `stallMs` is therefore terminated and replaced, and its jobs are
 * sent again to the new one (a job is pure: running it twice is harmless).
 */
export class SignerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private readonly code: string;
  private readonly data: { dir: string; now: number };
  private readonly stallMs: number;
  private closed = false;
  /** Threads replaced after a stall. */
  restarts = 0;

  constructor(opts: { dir: string; now: number; threads: number; stallMs?: number }) {
    const entry = new URL('./sign-worker.ts', import.meta.url).href;
    // Run from source: the thread registers tsx's ESM loader before loading its entry (as
    // src/client/private-verify.ts does for its verify pool).
    const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
    const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
    this.code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    this.data = { dir: opts.dir, now: opts.now };
    this.stallMs = opts.stallMs ?? 60_000;
    for (let i = 0; i < opts.threads; i++) {
      const slot: Slot = { worker: undefined as unknown as Worker, jobs: new Map(), watchdog: undefined };
      this.spawn(slot);
      this.slots.push(slot);
    }
  }

  private spawn(slot: Slot): void {
    const worker = new Worker(this.code, { eval: true, workerData: this.data });
    slot.worker = worker;
    worker.on('message', (m: { id: number; items?: unknown[]; error?: string }) => {
      if (slot.worker !== worker) return;
      const p = slot.jobs.get(m.id);
      slot.jobs.delete(m.id);
      this.arm(slot);
      if (m.error !== undefined) p?.reject(new Error(`sign worker: ${m.error}`));
      else p?.resolve(m.items ?? []);
    });
    worker.on('error', (err) => {
      if (slot.worker !== worker) return;
      for (const p of slot.jobs.values()) p.reject(err);
      slot.jobs.clear();
    });
  }

  /** (Re)starts the slot's stall timer while it has jobs. */
  private arm(slot: Slot): void {
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    if (slot.jobs.size === 0 || this.closed) return;
    slot.watchdog = setTimeout(() => {
      this.restarts++;
      console.log(`note: a signing thread answered nothing for ${this.stallMs / 1000} s; replaced it`);
      const old = slot.worker;
      this.spawn(slot);
      old.terminate().catch(() => undefined);
      for (const p of slot.jobs.values()) slot.worker.postMessage(p.job);
      this.arm(slot);
    }, this.stallMs);
  }

  get threads(): number {
    return this.slots.length;
  }

  private run(kind: SignJob['kind'], from: number, to: number): Promise<unknown[]> {
    const slot = this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    const job: SignJob = { id: this.nextId++, kind, from, to };
    return new Promise((resolve, reject) => {
      const idle = slot.jobs.size === 0;
      slot.jobs.set(job.id, { job, resolve, reject });
      if (idle) this.arm(slot);
      slot.worker.postMessage(job);
    });
  }

  /** Stored rows for CSIs from..to-1, mapping i with log index i. */
  rows(from: number, to: number): Promise<StoredMapping[]> {
    return this.run('rows', from, to) as Promise<StoredMapping[]>;
  }

  /** Signed submissions for CSIs from..to-1, spread over the threads. */
  async submissions(from: number, to: number): Promise<MappingSubmission[]> {
    const size = Math.min(2000, Math.ceil((to - from) / (this.threads * 4)));
    const parts: Promise<unknown[]>[] = [];
    for (let s = from; s < to; s += size) parts.push(this.run('submissions', s, Math.min(to, s + size)));
    return (await Promise.all(parts)).flat() as MappingSubmission[];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.slots) clearTimeout(s.watchdog);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
