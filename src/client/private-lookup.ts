/**
 * The private lookup against one DP (R9, R26): PrivateLookupClient, its options and its stats.
 * Over 400 lines because attempt() is one pipeline (cache, evaluate, fetch buckets, open and
 * verify, each stage feeding the next as its answers arrive) whose closures share the lookup's
 * state; split into functions it would pass that state around instead. The DP's endpoints are
 * in private-dp.ts, opening and verifying entries in private-verify.ts, the OPRF output cache in
 * oprf-cache.ts and the lookup across several DPs in private-lookup-across.ts.
 */
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../crypto/oprf-client-sodium.js';
import { bucketKeyOf, bucketOf, tagOf } from '../crypto/private-entry.js';
import { fromB64u, nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { type EpochsAnswer, findInBucket, splitBuckets } from '../protocol/private.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import type { HttpOptions } from './http.js';
import { verifyEpochKeyLogged } from './log-verify.js';
import type { VerifiedResult } from './lookup-client.js';
import { ohttpFetch } from './ohttp-transport.js';
import { MemoryOprfCache, type OprfOutputCache } from './oprf-cache.js';
import { evaluateElements, fetchBucket, fetchBuckets, fetchEpochs } from './private-dp.js';
import {
  type OpenItem,
  openAll,
  VerifiedEntries,
  type VerifyContextData,
  VerifyPool,
} from './private-verify.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

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
    return fetchEpochs(this.opts.dp);
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
              ? limit(() => fetchBucket(this.opts.dp, epoch, buckets[0]!)).then((b) => [received(b)])
              : limit(() => fetchBuckets(this.opts.dp, epoch, buckets)).then((b) =>
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
          const results = await openAll(items, ctx, pool, cpu, workersBusy);
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

  /** One charged evaluation request, paid with a Privacy Pass token or else the credential. */
  private async evaluate(
    epoch: number,
    blinded: readonly Uint8Array[],
  ): Promise<{ evaluated: Uint8Array[]; proof: Uint8Array }> {
    const auth =
      this.opts.tokens === undefined
        ? await this.opts.credential?.()
        : { authorization: await this.opts.tokens.next() };
    return evaluateElements(this.opts.dp, epoch, blinded, auth);
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
