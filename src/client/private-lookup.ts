import { availableParallelism } from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../crypto/oprf-client-sodium.js';
import { PROOF_LENGTH } from '../crypto/oprf-suite.js';
import { bucketKeyOf, bucketOf, tagOf } from '../crypto/private-entry.js';
import { fromB64u, nowSeconds, toB64u } from '../protocol/encoding.js';
import { fromProblemBody, MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { winningHolder } from '../protocol/preference.js';
import { EpochsAnswer, EvaluateAnswer, findInBucket, splitBuckets } from '../protocol/private.js';
import { levelRank } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut } from '../registry/verify-mapping.js';
import { call, type HttpOptions } from './http.js';
import { verifyEpochKeyLogged } from './log-verify.js';
import type { VerifiedMapping, VerifiedResult } from './lookup-client.js';
import { ohttpFetch } from './ohttp-transport.js';
import {
  type OpenItem,
  openAndVerify,
  PoolUnavailable,
  statusOf,
  VerifiedEntries,
  type VerifyContextData,
  VerifyPool,
} from './private-verify.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * Where a client keeps OPRF outputs, per DP and epoch, so a contact sync that repeats CSIs it
 * asked before spends no evaluation on them (R22: only new CSIs are charged, as in Signal's
 * contact discovery). Outputs are as sensitive as the CSIs they belong to: keep them on the device.
 *
 * @example
 * const client = new PrivateLookupClient({ dp, registry, cache: new MemoryOprfCache() });
 */
export interface OprfOutputCache {
  get(dp: string, epoch: number, csi: string): Uint8Array | undefined;
  set(dp: string, epoch: number, csi: string, out: Uint8Array): void;
  /** Forgets the DP's epochs that are not in `served`. */
  retain(dp: string, served: readonly number[]): void;
}

/**
 * An in-memory {@link OprfOutputCache}.
 *
 * @example
 * const cache = new MemoryOprfCache();
 * const client = new PrivateLookupClient({ dp, registry, cache });
 */
export class MemoryOprfCache implements OprfOutputCache {
  private readonly byDp = new Map<string, Map<number, Map<string, Uint8Array>>>();

  get(dp: string, epoch: number, csi: string): Uint8Array | undefined {
    return this.byDp.get(dp)?.get(epoch)?.get(csi);
  }

  set(dp: string, epoch: number, csi: string, out: Uint8Array): void {
    let epochs = this.byDp.get(dp);
    if (epochs === undefined) {
      epochs = new Map();
      this.byDp.set(dp, epochs);
    }
    let outs = epochs.get(epoch);
    if (outs === undefined) {
      outs = new Map();
      epochs.set(epoch, outs);
    }
    outs.set(csi, out);
  }

  retain(dp: string, served: readonly number[]): void {
    const epochs = this.byDp.get(dp);
    if (epochs === undefined) return;
    for (const epoch of epochs.keys()) if (!served.includes(epoch)) epochs.delete(epoch);
  }

  /** Number of outputs held for a DP (all epochs). */
  size(dp: string): number {
    let n = 0;
    for (const outs of this.byDp.get(dp)?.values() ?? []) n += outs.size;
    return n;
  }
}

/**
 * What a {@link PrivateLookupClient} needs: the DP and the registry; the rest has defaults.
 *
 * @example
 * const opts: PrivateLookupOptions = { dp: { baseUrl: 'https://dp1.example', id: 'dp1' }, registry, verifyThreads: 'auto' };
 */
export interface PrivateLookupOptions {
  dp: HttpOptions & { id: string };
  registry: RegistryInput;
  policy?: TrustPolicy;
  /**
   * A bearer token for the credentialed tier (an MSP session, e.g. `() => agent.sessionToken()`);
   * without one, evaluations are charged to the smaller anonymous tier of the client's address.
   */
  credential?: () => Promise<string | undefined> | string | undefined;
  /**
   * Privacy Pass tokens (RFC 9577) for this DP, e.g. a {@link PrivateTokens}: each evaluation
   * request spends one, in place of `credential`, so the DP learns only which MSP's user asks.
   */
  tokens?: {
    next(): Promise<string>;
    /** Called once a lookup knows how many requests it will pay: fetch that many ahead. */
    prepare?(n: number): void;
  };
  cache?: OprfOutputCache;
  /**
   * An Oblivious HTTP relay's base URL (RFC 9458): every request then goes, encapsulated to the
   * DP's gateway key from the registry, through `<relay>/v1/relay/<dp id>`, so the DP does not see
   * the client's address and the relay sees nothing inside (R9, R26). The DP's registry entry
   * must list a gateway.
   */
  relay?: string;
  /**
   * OPRF client engine (default: libsodium, made once; noble if libsodium cannot load). Pass
   * `nobleOprfClient` to stay in pure JS.
   */
  oprf?: OprfClientEngine;
  /** Bucket requests in flight at once (default 16). */
  concurrency?: number;
  /**
   * Fetch buckets in batches (POST /v1/private/buckets) when the DP offers it (default true);
   * false: one GET per bucket, which HTTP caches can serve.
   */
  bucketBatch?: boolean;
  /**
   * CSIs per evaluation request (default: the DP's maxBucketBatch, so that each request's buckets
   * come in one batch; at most the DP's maxEvaluateBatch). Smaller requests let the phases
   * overlap: buckets of the first are fetched and verified while later ones are blinded and
   * evaluated. Only new CSIs are charged, however they are split.
   */
  evaluateChunk?: number;
  /**
   * Worker threads that open and verify entries (default 0: on the calling thread). `'auto'`: one
   * fewer than the cores this process may run on (at most 4), the calling thread keeping the
   * OPRF and the downloads; none on a single core. Same verification either way; if the workers
   * cannot start, the client verifies on its own thread. Call {@link PrivateLookupClient.close} to
   * stop them.
   */
  verifyThreads?: number | 'auto';
  now?: () => number;
}

/**
 * What the last lookup cost: evaluations charged, outputs reused, buckets and bytes fetched.
 *
 * @example
 * await client.lookup(contacts);
 * console.log(client.lastStats?.evaluated, client.lastStats?.cached);
 */
export interface PrivateLookupStats {
  csis: number;
  evaluated: number;
  cached: number;
  /**
   * Entries found byte for byte as verified before under the same registry serial (and still
   * valid), whose verified answer was reused instead of checking their signatures again.
   */
  verifiedBefore: number;
  buckets: number;
  bytes: number;
  /** HTTP requests for buckets (batches or single GETs). */
  bucketRequests: number;
  epochs: number[];
  /** What the DP saw of this lookup besides blinded elements: the buckets fetched, as `epoch/bucket`. */
  bucketIds: string[];
  /**
   * Wall time in ms. The phases overlap (pipelined), so each is its span from the lookup's
   * start: `evaluate` until the last output was finalised, `buckets` until the last bucket
   * arrived, `verify` until the last entry was verified; `total` is the whole lookup.
   * `cpu` is time spent on the calling thread blinding, finalising, opening and verifying
   * (`verify` is 0 when worker threads did it; `workers` is then the wall time during which at
   * least one worker task was under way).
   */
  ms: {
    evaluate: number;
    buckets: number;
    verify: number;
    total: number;
    cpu: { blind: number; finalize: number; verify: number; workers: number };
  };
}

const encoder = new TextEncoder();
const maxAttempts = 3;
/** CSIs per evaluation request when the DP has no bucket batches to match. */
const defaultChunk = 128;
/** Entries opened and verified on the calling thread between two turns of the event loop. */
const verifySlice = 16;
/** The default OPRF engine, made once per process. */
let defaultEngine: Promise<OprfClientEngine> | undefined;

interface Where {
  epoch: number;
  bucket: number;
  bits: number;
}

/**
 * The private lookup (R9: the DP learns neither the CSI asked nor the answer; R26). For each CSI:
 * blind it (RFC 9497 §3.3.1), have the DP evaluate it (VOPRF: the batch's proof is checked against
 * the epoch key, which must be the one logged in the DP's transparency log), finalise to out, download the whole bucket
 * of out (k-anonymous), find out's tag, open the sealed answer with a key from out, and verify it
 * with verifyVerboseAnswer exactly as the plain lookup does. A key rotation on the DP never fails a
 * lookup: an epoch that stops being served mid-lookup makes the client start over once.
 *
 * A large sync is pipelined: evaluations go in requests of one bucket batch each; each answer is
 * finalised as it arrives and its buckets requested at once (POST /v1/private/buckets), and each
 * bucket request's entries are opened and verified as soon as it is back, in slices, while later
 * requests are blinded, evaluated and served. An entry found byte for byte as verified before
 * (same OPRF output, same sealed payload, same registry serial, nothing in it expired) reuses that
 * verified answer. The DP sees the same things either way: blinded elements and bucket ids.
 *
 * @example
 * const client = new PrivateLookupClient({ dp: { baseUrl: 'https://dp1.example', id: 'dp1' }, registry });
 * const [bob] = await client.lookup(['+14155550101']);
 * if (bob.status === 'one') console.log(bob.mappings[0].mapping.body.ssi);
 */
export class PrivateLookupClient {
  readonly cache: OprfOutputCache;
  lastStats: PrivateLookupStats | undefined;
  private readonly opts: PrivateLookupOptions & { registry: () => Registry };
  private pool: VerifyPool | undefined;
  private readonly verified = new VerifiedEntries();

  constructor(input: PrivateLookupOptions) {
    const opts = { ...input, registry: registryGetter(input.registry) };
    this.opts =
      opts.relay === undefined
        ? opts
        : {
            ...opts,
            dp: {
              ...opts.dp,
              fetch: ohttpFetch({
                relay: opts.relay,
                dp: opts.dp.id,
                registry: opts.registry,
                now: opts.now,
              }),
            },
          };
    this.cache = opts.cache ?? new MemoryOprfCache();
  }

  get dpId(): string {
    return this.opts.dp.id;
  }

  /** The DP's served epochs (GET /v1/private/epochs), schema-checked. */
  epochs(): Promise<EpochsAnswer> {
    return call(this.opts.dp, 'GET', '/v1/private/epochs', EpochsAnswer);
  }

  /** Looks CSIs up privately; results in the order asked, `query` being the canonical CSI. */
  async lookup(csis: readonly string[]): Promise<VerifiedResult[]> {
    const canonical = csis.map((c) => parseCsi(c).uri);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(canonical);
      } catch (err) {
        // A rotation retired the epoch between evaluation and download: start over.
        if (!(err instanceof MimiError) || err.code !== 'epoch-unknown' || attempt >= maxAttempts) throw err;
      }
    }
  }

  /** Stops the verify worker threads, if any. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  private verifyPool(): VerifyPool | undefined {
    const wanted = this.opts.verifyThreads ?? 0;
    const n = wanted === 'auto' ? Math.min(4, availableParallelism() - 1) : wanted;
    if (n <= 0 || this.pool?.isBroken) return undefined;
    try {
      this.pool ??= new VerifyPool(n);
    } catch {
      return undefined;
    }
    return this.pool;
  }

  /** The OPRF engine: the one given, else libsodium (noble when libsodium cannot load). */
  private engine(): Promise<OprfClientEngine> {
    if (this.opts.oprf !== undefined) return Promise.resolve(this.opts.oprf);
    // Both engines give the same outputs (RFC 9497 vectors, test/private/oprf-client-engines.test.ts);
    // libsodium is several times faster, noble needs no WebAssembly.
    defaultEngine ??= createSodiumOprfClient().catch(() => nobleOprfClient);
    return defaultEngine;
  }

  private async attempt(canonical: readonly string[]): Promise<VerifiedResult[]> {
    const t0 = performance.now();
    const dp = this.opts.dp.id;
    const [info, oprf] = await Promise.all([this.epochs(), this.engine()]);
    const served = new Map(info.epochs.map((e) => [e.id, e]));
    this.cache.retain(dp, [...served.keys()]);
    const unique = [...new Set(canonical)];
    const outs = new Map<string, { epoch: number; out: Uint8Array }>();
    const fresh: string[] = [];
    for (const csi of unique) {
      const current = this.cache.get(dp, info.current, csi);
      const epoch =
        current === undefined ? info.epochs.find((e) => this.cache.get(dp, e.id, csi)) : undefined;
      if (current !== undefined) outs.set(csi, { epoch: info.current, out: current });
      else if (epoch !== undefined)
        outs.set(csi, { epoch: epoch.id, out: this.cache.get(dp, epoch.id, csi)! });
      else fresh.push(csi);
    }
    const cached = unique.length - fresh.length;
    const ctx: VerifyContextData = {
      dp,
      registry: this.opts.registry(),
      policy: this.opts.policy ?? {},
      now: (this.opts.now ?? nowSeconds)(),
    };
    // R9, R26: evaluations are under the current epoch's key, and only if that key is the one
    // the DP logged for the epoch; each batch's proof is then checked against it (finalize).
    const currentEpoch = served.get(info.current);
    if (currentEpoch === undefined) throw new MimiError('record-invalid', 'the current epoch is not listed');
    let publicKey: Uint8Array | undefined;
    if (fresh.length > 0) {
      verifyEpochKeyLogged(currentEpoch, dp, ctx);
      publicKey = fromB64u(currentEpoch.publicKey, 'publicKey', 32);
    }
    const pool = this.verifyPool();
    const cpu = { blind: 0, finalize: 0, verify: 0, workers: 0 };
    const workersBusy = { pending: 0, since: 0 };
    const mark = { evaluate: 0, buckets: 0, verify: 0 };
    const maxBatch =
      this.opts.bucketBatch === false || info.maxBucketBatch === undefined ? 0 : info.maxBucketBatch;

    // Buckets: each (epoch, bucket) requested once, whoever asks for it. A request answers its
    // buckets in order: `sources` says which request and where in it.
    const sources = new Map<string, { body: Promise<Uint8Array[]>; index: number }>();
    const wanted = new Map<string, Where>();
    let bytes = 0;
    let bucketRequests = 0;
    const limit = makeLimiter(this.opts.concurrency ?? 16);
    const received = (b: Uint8Array) => {
      bytes += b.length;
      mark.buckets = performance.now() - t0;
      return b;
    };
    const request = (ids: readonly string[]) => {
      const byEpoch = new Map<number, string[]>();
      for (const id of ids) {
        const epoch = wanted.get(id)!.epoch;
        byEpoch.set(epoch, [...(byEpoch.get(epoch) ?? []), id]);
      }
      for (const [epoch, list] of byEpoch) {
        for (let i = 0; i < list.length; i += Math.max(1, maxBatch)) {
          const part = list.slice(i, i + Math.max(1, maxBatch));
          const buckets = part.map((id) => wanted.get(id)!.bucket);
          bucketRequests++;
          const body =
            maxBatch === 0
              ? limit(() => this.fetchBucket(epoch, buckets[0]!)).then((b) => [received(b)])
              : limit(() => this.fetchBuckets(epoch, buckets)).then((b) =>
                  splitBuckets(received(b), part.length),
                );
          // Awaited through the tasks below; this only keeps a failure from going unhandled meanwhile.
          body.catch(() => undefined);
          part.forEach((id, index) => {
            sources.set(id, { body, index });
          });
        }
      }
    };

    // Open and verify: as each bucket request arrives, the CSIs whose buckets it holds.
    const byCsi = new Map<string, VerifiedResult>();
    const verifying: Promise<void>[] = [];
    let verifiedBefore = 0;
    const settle = (csis: readonly string[]) => {
      const groups = new Map<string, string[]>();
      const newIds: string[] = [];
      for (const csi of csis) {
        const { epoch, out } = outs.get(csi)!;
        const bits = served.get(epoch)!.bucketBits;
        const bucket = bucketOf(bucketKeyOf(out), bits);
        const id = `${epoch}/${bucket}`;
        if (!wanted.has(id)) {
          wanted.set(id, { epoch, bucket, bits });
          newIds.push(id);
        }
        groups.set(id, [...(groups.get(id) ?? []), csi]);
      }
      request(newIds);
      const byRequest = new Map<Promise<Uint8Array[]>, [string, string[]][]>();
      for (const [id, group] of groups) {
        const { body } = sources.get(id)!;
        byRequest.set(body, [...(byRequest.get(body) ?? []), [id, group]]);
      }
      for (const [body, list] of byRequest) {
        const task = body.then(async (split) => {
          const items: OpenItem[] = [];
          const keys: string[] = [];
          for (const [id, group] of list) {
            const tags = group.map((csi) => tagOf(outs.get(csi)!.out));
            const found = findInBucket(split[sources.get(id)!.index]!, wanted.get(id)!, tags);
            group.forEach((csi, j) => {
              const payload = found[j];
              if (payload === undefined) {
                byCsi.set(csi, { query: csi, csi, status: 'none', mappings: [] });
                return;
              }
              const item = { csi, out: outs.get(csi)!.out, tag: tags[j]!, payload };
              const key = VerifiedEntries.keyOf(item);
              const before = this.verified.get(key, ctx);
              if (before !== undefined) {
                byCsi.set(csi, before);
                verifiedBefore++;
              } else {
                items.push(item);
                keys.push(key);
              }
            });
          }
          const results = await this.openAll(items, ctx, pool, cpu, workersBusy);
          items.forEach((item, j) => {
            byCsi.set(item.csi, results[j]!);
            this.verified.set(keys[j]!, results[j]!, ctx);
          });
          mark.verify = performance.now() - t0;
        });
        // Awaited below, all together; a failure is reported from there.
        task.catch(() => undefined);
        verifying.push(task);
      }
    };

    if (outs.size > 0) settle([...outs.keys()]);
    // Evaluations in chunks of one bucket batch: each chunk is blinded and sent, then the next is
    // blinded while the DP evaluates it; each answer is finalised as it arrives and its buckets
    // requested at once, so the DP serves buckets of early chunks while later ones are verified.
    const chunk = Math.max(
      1,
      Math.min(info.maxEvaluateBatch, this.opts.evaluateChunk ?? (maxBatch || defaultChunk)),
    );
    // One token per evaluation request: have them all fetched at once, not one before each.
    if (fresh.length > 0) this.opts.tokens?.prepare?.(Math.ceil(fresh.length / chunk));
    const finalizing: Promise<void>[] = [];
    let failed = false;
    for (let i = 0; i < fresh.length; i += chunk) {
      const batch = fresh.slice(i, i + chunk);
      const tb = performance.now();
      const inputs = batch.map((c) => encoder.encode(c));
      const blinded = oprf.blindBatch(inputs);
      cpu.blind += performance.now() - tb;
      const done = this.evaluate(
        info.current,
        blinded.map((b) => b.blindedElement),
      ).then(({ evaluated, proof }) => {
        const tf = performance.now();
        // RFC 9497 §3.3.2: a proof that does not verify (or a bad element) is the DP's fault; its
        // OprfError carries its wire code.
        const finalized = oprf.finalizeBatch(inputs, blinded, evaluated, proof, publicKey!);
        cpu.finalize += performance.now() - tf;
        batch.forEach((csi, j) => {
          outs.set(csi, { epoch: info.current, out: finalized[j]! });
          this.cache.set(dp, info.current, csi, finalized[j]!);
        });
        settle(batch);
        mark.evaluate = performance.now() - t0;
      });
      // Awaited below; meanwhile a failure (rotation, budget) stops further chunks being sent.
      done.catch(() => {
        failed = true;
      });
      finalizing.push(done);
      // Let the request leave, and answers already back be finalised, before the next chunk.
      if (i + chunk < fresh.length) await yieldToEventLoop();
      if (failed) break;
    }
    await Promise.all(finalizing);
    await Promise.all(verifying);

    this.lastStats = {
      csis: unique.length,
      evaluated: fresh.length,
      cached,
      verifiedBefore,
      buckets: wanted.size,
      bytes,
      bucketRequests,
      epochs: [...new Set([...outs.values()].map((o) => o.epoch))],
      bucketIds: [...wanted.keys()],
      ms: { ...mark, total: performance.now() - t0, cpu },
    };
    return canonical.map((csi) => byCsi.get(csi)!);
  }

  /**
   * Opens and verifies entries, on the pool when there is one (else, or if it fails, here). On
   * this thread it works in slices, letting answers that arrive meanwhile be handled between them.
   */
  private async openAll(
    items: OpenItem[],
    ctx: VerifyContextData,
    pool: VerifyPool | undefined,
    cpu: PrivateLookupStats['ms']['cpu'],
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

  /** One charged evaluation request; the evaluated elements and the batch's proof, decoded. */
  private async evaluate(
    epoch: number,
    blinded: readonly Uint8Array[],
  ): Promise<{ evaluated: Uint8Array[]; proof: Uint8Array }> {
    const token =
      this.opts.tokens === undefined
        ? await this.opts.credential?.()
        : { authorization: await this.opts.tokens.next() };
    const answer = await call(
      this.opts.dp,
      'POST',
      '/v1/private/evaluate',
      EvaluateAnswer,
      { v: 1, epoch, elements: blinded.map((b) => toB64u(b)) },
      token,
    );
    if (answer.epoch !== epoch) throw new MimiError('record-invalid', 'evaluated under another epoch');
    let proof: Uint8Array;
    try {
      proof = fromB64u(answer.proof, 'proof', PROOF_LENGTH);
    } catch {
      throw new MimiError('oprf-proof-invalid', `the proof is not ${PROOF_LENGTH} bytes of base64url`);
    }
    return { evaluated: answer.evaluated.map((e, i) => fromB64u(e, `evaluated[${i}]`)), proof };
  }

  private fetchBucket(epoch: number, bucket: number): Promise<Uint8Array> {
    return this.fetchBinary(`/v1/private/buckets/${epoch}/${bucket}`);
  }

  private fetchBuckets(epoch: number, buckets: number[]): Promise<Uint8Array> {
    // A batch holds up to maxBucketBatch buckets, so it may be that many answers long.
    return this.fetchBinary('/v1/private/buckets', { v: 1, epoch, buckets }, buckets.length);
  }

  private async fetchBinary(path: string, json?: unknown, buckets = 1): Promise<Uint8Array> {
    const { baseUrl, timeoutMs, maxAnswerBytes } = this.opts.dp;
    let res: Response;
    try {
      res = await (this.opts.dp.fetch ?? fetch)(new URL(path, baseUrl), {
        signal: AbortSignal.timeout(timeoutMs ?? 10_000),
        ...(json === undefined
          ? {}
          : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
      });
    } catch (err) {
      // A transport's own refusal (Oblivious HTTP: a key, a tampered answer) keeps its code.
      if (err instanceof MimiError) throw err;
      throw new MimiError('unreachable', `${baseUrl} did not answer: ${(err as Error).message}`);
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length > (maxAnswerBytes ?? 8 * 1024 * 1024) * buckets)
      throw new MimiError('body-too-large', 'bucket too large');
    if (!res.ok) {
      throw (
        fromProblemBody(body, res.status) ??
        new MimiError('malformed-json', `${baseUrl} answered HTTP ${res.status}`)
      );
    }
    return body;
  }
}

/** Runs at most `n` tasks at once. */
function makeLimiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return (task) =>
    new Promise((resolve, reject) => {
      const run = () => {
        active++;
        task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            queue.shift()?.();
          });
      };
      if (active < n) run();
      else queue.push(run);
    });
}

/**
 * A private lookup across several DPs: the merged results and how each DP fared.
 *
 * @example
 * const failed = outcome.dps.filter((d) => d.status === 'error').map((d) => d.dp);
 */
export interface FederatedPrivateResult {
  /** Per CSI, the verified mappings of every DP that answered, merged by mapping id (R15: `dps`). */
  results: VerifiedResult[];
  /** How each DP fared. */
  dps: { dp: string; status: 'ok' | 'error'; error?: MimiError; stats?: PrivateLookupStats }[];
}

/**
 * What {@link privateLookupAcross} asks with: the registry, which DPs, and each DP's credential.
 *
 * @example
 * const opts: PrivateLookupAcrossOptions = { registry, dps: ['dp1', 'dp2'], tokens: (dp) => tokensFor(dp) };
 */
export interface PrivateLookupAcrossOptions {
  registry: RegistryInput;
  policy?: TrustPolicy;
  /** 'all' DPs of the registry, or explicit ids. */
  dps: 'all' | readonly string[];
  cache?: OprfOutputCache;
  oprf?: OprfClientEngine;
  credential?: (dp: string) => Promise<string | undefined> | string | undefined;
  /** Privacy Pass tokens for each DP (a token is bound to one DP), in place of `credential`. */
  tokens?: (dp: string) => { next(): Promise<string> };
  now?: () => number;
  timeoutMs?: number;
  /** Through this Oblivious HTTP relay (see {@link PrivateLookupOptions.relay}). */
  relay?: string;
}

/**
 * A private lookup against several DPs of the registry in parallel (R10 `dpList`). A DP that
 * fails is reported, not fatal. Each DP gets its own client, cache partition and credential.
 *
 * @example
 * const { results } = await privateLookupAcross(['+14155550101'], { registry, dps: 'all' });
 */
export async function privateLookupAcross(
  csis: readonly string[],
  opts: PrivateLookupAcrossOptions,
): Promise<FederatedPrivateResult> {
  const registry = registryGetter(opts.registry)();
  const entries = registry.doc.dps.filter((d) => opts.dps === 'all' || opts.dps.includes(d.id));
  const cache = opts.cache ?? new MemoryOprfCache();
  const clients = entries.map(
    (d) =>
      new PrivateLookupClient({
        dp: { baseUrl: d.endpoint, id: d.id, timeoutMs: opts.timeoutMs },
        registry: opts.registry,
        policy: opts.policy,
        cache,
        oprf: opts.oprf,
        credential: opts.credential === undefined ? undefined : () => opts.credential!(d.id),
        tokens: opts.tokens?.(d.id),
        now: opts.now,
        relay: opts.relay,
      }),
  );
  const settled = await Promise.allSettled(clients.map((c) => c.lookup(csis)));
  const canonical = csis.map((c) => parseCsi(c).uri);
  const merged = canonical.map((csi) => ({ csi, byId: new Map<string, VerifiedMapping>() }));
  const dps: FederatedPrivateResult['dps'] = [];
  settled.forEach((s, i) => {
    const dp = entries[i]!.id;
    if (s.status === 'rejected') {
      const error = s.reason instanceof MimiError ? s.reason : new MimiError('internal', String(s.reason));
      dps.push({ dp, status: 'error', error });
      return;
    }
    dps.push({ dp, status: 'ok', stats: clients[i]!.lastStats });
    s.value.forEach((r, j) => {
      for (const m of r.mappings) {
        const have = merged[j]!.byId.get(m.id);
        if (have === undefined) merged[j]!.byId.set(m.id, { ...m, dps: [...m.dps] });
        else for (const d of m.dps) if (!have.dps.includes(d)) have.dps.push(d);
      }
    });
  });
  const results = merged.map(({ csi, byId }) => {
    // R17 across DPs: one holder per CSI, as the federated plain lookup does (mergeServed).
    const perDp = settled.map((s, i) =>
      s.status !== 'fulfilled'
        ? []
        : [...byId.values()]
            .filter((m) => m.dps.includes(entries[i]!.id))
            .map((m) => ({
              id: m.id,
              holderKey: m.mapping.body.holderKey,
              acceptedAt: m.mapping.acceptedAt,
              levelRank: levelRank[m.mapping.attestation.level],
            })),
    );
    const winner = winningHolder(perDp);
    const all = [...byId.values()].filter((m) => winner.has(m.id));
    const optOut = all.filter((m) => isOptOut(m.mapping.body));
    // A holder's opt-out wins over mappings a lagging DP still serves (R14, R25).
    const mappings = optOut.length > 0 ? optOut.slice(0, 1) : all;
    return { query: csi, csi, status: statusOf(mappings), mappings };
  });
  return { results, dps };
}
