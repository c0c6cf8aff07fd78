import { nobleOprfClient, type OprfClientEngine } from '../crypto/oprf-client-sodium.js';
import { bucketKeyOf, bucketOf, openEntry, tagOf } from '../crypto/private-entry.js';
import { VerboseAnswer } from '../protocol/answers.js';
import { fromB64u, nowSeconds, toB64u } from '../protocol/encoding.js';
import { fromProblem, MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { decodeBucket, EpochsAnswer, EvaluateAnswer } from '../protocol/private.js';
import { decodeRecord, type LookupStatus } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut } from '../registry/verify-mapping.js';
import { call, type HttpOptions } from './http.js';
import { type VerifiedMapping, type VerifiedResult, verifyVerboseAnswer } from './lookup-client.js';

/**
 * Where a client keeps OPRF outputs, per DP and epoch, so a contact sync that repeats CSIs it
 * asked before spends no evaluation on them (R22: only new CSIs are charged, as in Signal's
 * contact discovery). Outputs are as sensitive as the CSIs they belong to: keep them on the device.
 */
export interface OprfOutputCache {
  get(dp: string, epoch: number, csi: string): Uint8Array | undefined;
  set(dp: string, epoch: number, csi: string, out: Uint8Array): void;
  /** Forgets the DP's epochs that are not in `served`. */
  retain(dp: string, served: readonly number[]): void;
}

/** An in-memory {@link OprfOutputCache}. */
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

export interface PrivateLookupOptions {
  dp: HttpOptions & { id: string };
  registry: () => Registry;
  policy?: TrustPolicy;
  /**
   * A bearer token for the credentialed tier (an MSP session, e.g. `() => agent.sessionToken()`);
   * without one, evaluations are charged to the smaller anonymous tier of the client's address.
   */
  credential?: () => Promise<string | undefined> | string | undefined;
  cache?: OprfOutputCache;
  /** OPRF client engine: noble (default, pure JS) or `await createSodiumOprfClient()`. */
  oprf?: OprfClientEngine;
  /** Bucket downloads in flight at once (default 16). */
  concurrency?: number;
  now?: () => number;
}

/** What the last lookup cost: evaluations charged, outputs reused, buckets and bytes fetched. */
export interface PrivateLookupStats {
  csis: number;
  evaluated: number;
  cached: number;
  buckets: number;
  bytes: number;
  epochs: number[];
  /** What the DP saw of this lookup besides blinded elements: the buckets fetched, as `epoch/bucket`. */
  bucketIds: string[];
  /** Wall time of each phase, in ms: blind/evaluate/finalise, bucket downloads, open and verify. */
  ms: { evaluate: number; buckets: number; verify: number };
}

const encoder = new TextEncoder();
const maxAttempts = 3;

/**
 * The private lookup (R9: the DP learns neither the CSI asked nor the answer; R26). For each CSI:
 * blind it (RFC 9497 §3.3.1), have the DP evaluate it, finalise to out, download the whole bucket
 * of out (k-anonymous), find out's tag, open the sealed answer with a key from out, and verify it
 * with verifyVerboseAnswer exactly as the plain lookup does. A key rotation on the DP never fails a
 * lookup: an epoch that stops being served mid-lookup makes the client start over once.
 *
 * @example
 * const client = new PrivateLookupClient({ dp: { baseUrl: 'https://dp1.example', id: 'dp1' }, registry: () => registry });
 * const [bob] = await client.lookup(['+14155550101']);
 * if (bob.status === 'one') console.log(bob.mappings[0].mapping.body.ssi);
 */
export class PrivateLookupClient {
  readonly cache: OprfOutputCache;
  lastStats: PrivateLookupStats | undefined;
  private readonly opts: PrivateLookupOptions;
  private readonly oprf: OprfClientEngine;

  constructor(opts: PrivateLookupOptions) {
    this.opts = opts;
    this.cache = opts.cache ?? new MemoryOprfCache();
    this.oprf = opts.oprf ?? nobleOprfClient;
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

  private async attempt(canonical: readonly string[]): Promise<VerifiedResult[]> {
    const dp = this.opts.dp.id;
    const info = await this.epochs();
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
    const t0 = performance.now();
    for (let i = 0; i < fresh.length; i += info.maxEvaluateBatch) {
      const batch = fresh.slice(i, i + info.maxEvaluateBatch);
      const evaluated = await this.evaluate(info.current, batch);
      batch.forEach((csi, j) => {
        outs.set(csi, { epoch: info.current, out: evaluated[j]! });
        this.cache.set(dp, info.current, csi, evaluated[j]!);
      });
    }

    // Group by (epoch, bucket): each bucket is downloaded once, whoever asks for it.
    const wanted = new Map<string, { epoch: number; bucket: number; bits: number }>();
    const bucketOfCsi = new Map<string, string>();
    for (const [csi, { epoch, out }] of outs) {
      const bits = served.get(epoch)!.bucketBits;
      const bucket = bucketOf(bucketKeyOf(out), bits);
      const id = `${epoch}/${bucket}`;
      wanted.set(id, { epoch, bucket, bits });
      bucketOfCsi.set(csi, id);
    }
    const t1 = performance.now();
    const buckets = new Map<string, Map<string, Uint8Array>>();
    let bytes = 0;
    const jobs = [...wanted.entries()];
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const [id, where] = jobs[next++]!;
        const body = await this.fetchBucket(where.epoch, where.bucket);
        bytes += body.length;
        const decoded = decodeBucket(body, where);
        buckets.set(id, new Map(decoded.entries.map((e) => [toB64u(e.tag), e.payload])));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 16, jobs.length) }, worker));

    const t2 = performance.now();
    const ctx = {
      registry: this.opts.registry(),
      policy: this.opts.policy ?? {},
      now: (this.opts.now ?? nowSeconds)(),
    };
    const byCsi = new Map<string, VerifiedResult>();
    for (const csi of unique) {
      const { out } = outs.get(csi)!;
      const tag = tagOf(out);
      const payload = buckets.get(bucketOfCsi.get(csi)!)!.get(toB64u(tag));
      if (payload === undefined) {
        byCsi.set(csi, { query: csi, csi, status: 'none', mappings: [] });
        continue;
      }
      const answer = decodeRecord(VerboseAnswer, JSON.parse(openEntry(out, tag, payload)), 'private answer');
      if (answer.dp !== this.opts.dp.id || answer.results[0]?.csi !== csi) {
        throw new MimiError('record-invalid', 'the private answer is for another DP or CSI');
      }
      // Exactly the plain lookup's verification, after dropping what expired since it was sealed.
      const [result] = verifyVerboseAnswer(withoutExpired(answer, ctx.now), [csi], ctx);
      byCsi.set(csi, result!);
    }
    this.lastStats = {
      csis: unique.length,
      evaluated: fresh.length,
      cached,
      buckets: wanted.size,
      bytes,
      epochs: [...new Set([...outs.values()].map((o) => o.epoch))],
      bucketIds: [...wanted.keys()],
      ms: { evaluate: t1 - t0, buckets: t2 - t1, verify: performance.now() - t2 },
    };
    return canonical.map((csi) => byCsi.get(csi)!);
  }

  /** Blind, evaluate (one charged request), finalise. */
  private async evaluate(epoch: number, csis: readonly string[]): Promise<Uint8Array[]> {
    const inputs = csis.map((c) => encoder.encode(c));
    const blinded = this.oprf.blindBatch(inputs);
    const token = await this.opts.credential?.();
    const answer = await call(
      this.opts.dp,
      'POST',
      '/v1/private/evaluate',
      EvaluateAnswer,
      { v: 1, epoch, elements: blinded.map((b) => toB64u(b.blindedElement)) },
      token,
    );
    if (answer.epoch !== epoch) throw new MimiError('record-invalid', 'evaluated under another epoch');
    const evaluated = answer.evaluated.map((e, i) => fromB64u(e, `evaluated[${i}]`));
    return this.oprf.finalizeBatch(
      inputs,
      blinded.map((b) => b.blind),
      evaluated,
    );
  }

  private async fetchBucket(epoch: number, bucket: number): Promise<Uint8Array> {
    const { baseUrl, timeoutMs, maxAnswerBytes } = this.opts.dp;
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/private/buckets/${epoch}/${bucket}`, baseUrl), {
        signal: AbortSignal.timeout(timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new MimiError('unreachable', `${baseUrl} did not answer: ${(err as Error).message}`);
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length > (maxAnswerBytes ?? 8 * 1024 * 1024))
      throw new MimiError('body-too-large', 'bucket too large');
    if (!res.ok) {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        throw new MimiError('malformed-json', `${baseUrl} answered HTTP ${res.status}`);
      }
      throw fromProblem(json, res.status);
    }
    return body;
  }
}

/** The answer as the plain lookup would give it now: expired mappings dropped, status recomputed (R14). */
function withoutExpired(answer: VerboseAnswer, now: number): VerboseAnswer {
  return {
    ...answer,
    results: answer.results.map((r) => {
      const mappings = r.mappings.filter((m) => m.mapping.body.expiresAt > now);
      if (mappings.length === r.mappings.length) return r;
      return { ...r, mappings, status: statusOf(mappings) };
    }),
  };
}

function statusOf(
  mappings: readonly { mapping: VerboseAnswer['results'][number]['mappings'][number]['mapping'] }[],
): LookupStatus {
  if (mappings.some((m) => isOptOut(m.mapping.body))) return 'opt-out';
  return mappings.length === 0 ? 'none' : mappings.length === 1 ? 'one' : 'several';
}

export interface FederatedPrivateResult {
  /** Per CSI, the verified mappings of every DP that answered, merged by mapping id (R15: `dps`). */
  results: VerifiedResult[];
  /** How each DP fared. */
  dps: { dp: string; status: 'ok' | 'error'; error?: MimiError }[];
}

/**
 * A private lookup against several DPs of the registry in parallel (R10 `dpList`). A DP that
 * fails is reported, not fatal. Each DP gets its own client, cache partition and credential.
 *
 * @example
 * const { results } = await privateLookupAcross(['+14155550101'], { registry: () => reg, dps: 'all' });
 */
export async function privateLookupAcross(
  csis: readonly string[],
  opts: {
    registry: () => Registry;
    policy?: TrustPolicy;
    /** 'all' DPs of the registry, or explicit ids. */
    dps: 'all' | readonly string[];
    cache?: OprfOutputCache;
    oprf?: OprfClientEngine;
    credential?: (dp: string) => Promise<string | undefined> | string | undefined;
    now?: () => number;
    timeoutMs?: number;
  },
): Promise<FederatedPrivateResult> {
  const registry = opts.registry();
  const entries = registry.doc.dps.filter((d) => opts.dps === 'all' || opts.dps.includes(d.id));
  const cache = opts.cache ?? new MemoryOprfCache();
  const settled = await Promise.allSettled(
    entries.map((d) =>
      new PrivateLookupClient({
        dp: { baseUrl: d.endpoint, id: d.id, timeoutMs: opts.timeoutMs },
        registry: opts.registry,
        policy: opts.policy,
        cache,
        oprf: opts.oprf,
        credential: opts.credential === undefined ? undefined : () => opts.credential!(d.id),
        now: opts.now,
      }).lookup(csis),
    ),
  );
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
    dps.push({ dp, status: 'ok' });
    s.value.forEach((r, j) => {
      for (const m of r.mappings) {
        const have = merged[j]!.byId.get(m.id);
        if (have === undefined) merged[j]!.byId.set(m.id, { ...m, dps: [...m.dps] });
        else for (const d of m.dps) if (!have.dps.includes(d)) have.dps.push(d);
      }
    });
  });
  const results = merged.map(({ csi, byId }) => {
    const all = [...byId.values()];
    const optOut = all.filter((m) => isOptOut(m.mapping.body));
    // A holder's opt-out wins over mappings a lagging DP still serves (R14, R25).
    const mappings = optOut.length > 0 ? optOut.slice(0, 1) : all;
    return { query: csi, csi, status: statusOf(mappings), mappings };
  });
  return { results, dps };
}
