import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { openAnswer } from '../crypto/private-entry.js';
import { cryptoProvider } from '../crypto/provider.js';
import { VerboseAnswer } from '../protocol/answers.js';
import { toB64u } from '../protocol/encoding.js';
import { ClientErrorCode, type ErrorCode, MimiError } from '../protocol/errors.js';
import { decodeRecord, type LookupStatus } from '../protocol/records.js';
import type { Registry, RegistryDocument } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut } from '../registry/verify-mapping.js';
import { type VerifiedResult, verifyVerboseAnswer } from './lookup-client.js';

/**
 * Opening and verifying private lookup entries, on the calling thread or on a small pool of
 * worker threads (DESIGN.md "Lookup paths and privacy"). Either way each entry is opened with its
 * OPRF output and its answer goes through verifyVerboseAnswer, exactly the plain lookup's
 * verification (verifyMapping: every signature checked, Ed25519 by libsodium).
 */
export interface OpenItem {
  /** The canonical CSI asked. */
  csi: string;
  out: Uint8Array;
  tag: Uint8Array;
  payload: Uint8Array;
}

export interface VerifyContextData {
  /** The DP asked. */
  dp: string;
  registry: Registry;
  policy: TrustPolicy;
  now: number;
}

/** Opens and verifies one entry: the CSI's answer as the plain lookup would give it now. */
export function openAndVerify(item: OpenItem, ctx: VerifyContextData): VerifiedResult {
  const { csi, out, tag, payload } = item;
  const answer = decodeRecord(
    VerboseAnswer,
    openAnswer(out, tag, payload, { csi, dp: ctx.dp }),
    'private answer',
  );
  if (answer.dp !== ctx.dp || answer.results.length !== 1 || answer.results[0]!.csi !== csi) {
    throw new MimiError('record-invalid', 'the private answer is for another DP or CSI');
  }
  // Exactly the plain lookup's verification, after dropping what expired since it was sealed.
  // A sealed answer carries no log proofs: fetching one by leaf index would tell the DP which CSI
  // was looked up (R9). The signatures are checked as always.
  const unlogged = { ...ctx, policy: { ...ctx.policy, allowUnlogged: true } };
  const [result] = verifyVerboseAnswer(withoutExpired(answer, ctx.now), { asked: [csi], ...unlogged });
  return result!;
}

/** The answer as the plain lookup would give it now: expired mappings dropped, status recomputed (R14). */
export function withoutExpired(answer: VerboseAnswer, now: number): VerboseAnswer {
  return {
    ...answer,
    results: answer.results.map((r) => {
      const mappings = r.mappings.filter((m) => m.mapping.body.expiresAt > now);
      if (mappings.length === r.mappings.length) return r;
      return { ...r, mappings, status: statusOf(mappings) };
    }),
  };
}

export function statusOf(
  mappings: readonly { mapping: VerboseAnswer['results'][number]['mappings'][number]['mapping'] }[],
): LookupStatus {
  if (mappings.some((m) => isOptOut(m.mapping.body))) return 'opt-out';
  return mappings.length === 0 ? 'none' : mappings.length === 1 ? 'one' : 'several';
}

/**
 * Entries already opened and verified under one registry serial, so that a repeated contact sync
 * does not check the same signatures again (as the federation's verified-mapping cache does,
 * src/federation/fanout.ts). The key is SHA-256 of the OPRF output and the sealed payload: the same
 * output and the same payload bytes open to the same answer, so the same verification result
 * holds until the registry changes or one of its mappings or attestations expires. A payload the
 * DP re-sealed (fresh nonce) is a new key and is verified in full. Bounded; oldest out first.
 */
export class VerifiedEntries {
  private entries = new Map<string, { result: VerifiedResult; until: number }>();
  private serial = -1;

  constructor(private readonly max = 100_000) {}

  static keyOf(item: Pick<OpenItem, 'out' | 'payload'>): string {
    return toB64u(cryptoProvider().sha256(item.out, item.payload));
  }

  /** The result verified before for this key under `ctx`'s registry, still valid at `ctx.now`. */
  get(key: string, ctx: VerifyContextData): VerifiedResult | undefined {
    if (ctx.registry.serial !== this.serial) return undefined;
    const hit = this.entries.get(key);
    if (hit === undefined || hit.until <= ctx.now) return undefined;
    return structuredClone(hit.result);
  }

  set(key: string, result: VerifiedResult, ctx: VerifyContextData): void {
    if (ctx.registry.serial !== this.serial) {
      this.entries = new Map();
      this.serial = ctx.registry.serial;
    }
    let until = Number.POSITIVE_INFINITY;
    for (const m of result.mappings) {
      until = Math.min(until, m.mapping.body.expiresAt, m.mapping.attestation.expiresAt);
    }
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { result: structuredClone(result), until });
  }

  get size(): number {
    return this.entries.size;
  }
}

// ---- worker pool ------------------------------------------------------------------------------

/** Messages to a worker: the registry once per serial, then batches of entries. */
export type ToWorker =
  | { kind: 'registry'; doc: RegistryDocument }
  | {
      kind: 'verify';
      id: number;
      dp: string;
      serial: number;
      policy: TrustPolicy;
      now: number;
      items: OpenItem[];
    };

export type FromWorker =
  | { id: number; ok: true; results: VerifiedResult[] }
  | { id: number; ok: false; code: string; message: string };

interface Slot {
  worker: Worker;
  serial: number;
  busy: number;
}

/**
 * A small pool of worker threads that open and verify entries. A pool that cannot start its
 * workers (or loses one) reports it through the promise; PrivateLookupClient then verifies on its
 * own thread, so a lookup never depends on threads being available.
 */
export class VerifyPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (r: VerifiedResult[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private broken: Error | undefined;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const worker = spawnVerifyWorker();
      worker.unref();
      const slot: Slot = { worker, serial: -1, busy: 0 };
      worker.on('message', (msg: FromWorker) => {
        slot.busy--;
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (w === undefined) return;
        if (msg.ok) w.resolve(msg.results);
        else w.reject(new MimiError(msg.code as ErrorCode, msg.message));
      });
      const fail = (err: Error) => {
        this.broken ??= err;
        for (const [id, w] of this.waiting) {
          this.waiting.delete(id);
          w.reject(new PoolUnavailable(err));
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0)
          fail(
            new MimiError(ClientErrorCode.VerifyPoolUnavailable, `verify worker exited with code ${code}`),
          );
      });
      this.slots.push(slot);
    }
  }

  /** Whether the pool lost a worker; a broken pool is not used again. */
  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  /** Opens and verifies `items` on the least busy worker; results in order. */
  run(items: OpenItem[], ctx: VerifyContextData): Promise<VerifiedResult[]> {
    if (this.broken !== undefined) return Promise.reject(new PoolUnavailable(this.broken));
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    if (slot.serial !== ctx.registry.serial) {
      slot.worker.postMessage({ kind: 'registry', doc: ctx.registry.doc } satisfies ToWorker);
      slot.serial = ctx.registry.serial;
    }
    const id = this.nextId++;
    slot.busy++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      slot.worker.postMessage({
        kind: 'verify',
        id,
        dp: ctx.dp,
        serial: ctx.registry.serial,
        policy: ctx.policy,
        now: ctx.now,
        items,
      } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The pool failed (not the entries): verify on the calling thread instead. */
export class PoolUnavailable extends MimiError {
  constructor(readonly reason: Error) {
    super(ClientErrorCode.VerifyPoolUnavailable, `verify pool unavailable: ${reason.message}`, undefined, {
      cause: reason,
    });
  }
}

/** Entries opened and verified on the calling thread between two turns of the event loop. */
const verifySlice = 16;

/**
 * Opens and verifies entries, on the pool when there is one (else, or if it fails, here). On
 * this thread it works in slices, letting answers that arrive meanwhile be handled between them.
 */
export async function openAll(
  items: OpenItem[],
  ctx: VerifyContextData,
  pool: VerifyPool | undefined,
  cpu: { verify: number; workers: number },
  busy: { pending: number; since: number },
): Promise<VerifiedResult[]> {
  if (items.length === 0) return [];
  if (pool !== undefined && !pool.isBroken) {
    if (busy.pending++ === 0) busy.since = performance.now();
    // Split so that every worker gets a share.
    const parts = Math.min(pool.size, items.length);
    const size = Math.ceil(items.length / parts);
    // Payloads are views into whole batch bodies: copy them, or each message would clone the body.
    const own = items.map((item) => ({ ...item, payload: item.payload.slice() }));
    try {
      const done = await Promise.all(
        Array.from({ length: parts }, (_, i) => pool.run(own.slice(i * size, (i + 1) * size), ctx)),
      );
      return done.flat();
    } catch (err) {
      if (!(err instanceof PoolUnavailable)) throw err;
    } finally {
      if (--busy.pending === 0) cpu.workers += performance.now() - busy.since;
    }
  }
  const results: VerifiedResult[] = [];
  for (let i = 0; i < items.length; i += verifySlice) {
    if (i > 0) await yieldToEventLoop();
    const ts = performance.now();
    for (const item of items.slice(i, i + verifySlice)) results.push(openAndVerify(item, ctx));
    cpu.verify += performance.now() - ts;
  }
  return results;
}

/**
 * Starts a worker on verify-worker.js beside this file (the built package), or on verify-worker.ts
 * when run from source. A worker on a .ts entry needs a runtime that loads TypeScript in workers:
 * Node 22.18 and later strip types themselves; the repository's test, bench and cli runs preload
 * test/support/ts-workers.mjs. The SDK never resolves a TypeScript loader itself: a pool whose
 * workers cannot start reports it, and the lookup verifies on the calling thread.
 */
function spawnVerifyWorker(): Worker {
  const here = import.meta.url;
  return new Worker(new URL(here.endsWith('.ts') ? './verify-worker.ts' : './verify-worker.js', here));
}
