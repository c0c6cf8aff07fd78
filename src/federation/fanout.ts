import { createHash } from 'node:crypto';
import { canonicalize } from '../crypto/jcs.js';
import type { SigningKey } from '../crypto/keys.js';
import type { PeerReport } from '../dp/lookup.js';
import type { ServedMapping } from '../dp/merge.js';
import { VerboseAnswer } from '../protocol/answers.js';
import type { Clock } from '../protocol/clock.js';
import { MimiError, wireCodeOf } from '../protocol/errors.js';
import type { ForwardedLookup } from '../protocol/records.js';
import type { Registry, ThroughputClass } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut, verifyMapping } from '../registry/verify-mapping.js';
import { MemoryRateLimiter, type RateLimiter } from '../store/rate-limit.js';
import { CircuitBreaker } from './breaker.js';
import { callPeer, PeerCallError, PeerStatus } from './peer-client.js';

/** R13: CSIs per minute this DP forwards to one peer, by the peer's published throughput class. */
export const forwardBudget: Record<ThroughputClass, number> = { low: 6_000, standard: 60_000, high: 600_000 };

/** A call's latency, in whole ms: measured, not read from the clock (a test clock stands still). */
function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

export type DpList = 'preferred' | 'all' | readonly string[];

export interface FanoutOptions {
  self: { id: string; key: SigningKey };
  registry: () => Registry;
  policy: TrustPolicy;
  clock: Clock;
  /** The peers `dpList: "preferred"` means; default: every other DP of the registry. */
  preferredPeers?: readonly string[];
  /** The settings below come from the resolved config (src/server/config-defaults.ts). */
  timeoutMs: number;
  /** Largest answer accepted per CSI asked; a larger one is refused unread. */
  maxAnswerBytesPerCsi: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Told of every peer's outcome of every fan-out (the per-peer metrics). */
  onReport?: (report: PeerReport) => void;
}

export interface FanoutResult {
  /** Per CSI asked, in order: each peer's verified served mappings. */
  sources: { dp: string; rows: ServedMapping[] }[][];
  peers: PeerReport[];
}

/** A forwarded answer's mapping, verified, as a served row (R3: nothing from a peer is trusted). */
function servedFrom(
  mapping: VerboseAnswer['results'][number]['mappings'][number]['mapping'],
  id: string,
  json: string,
  dp: string,
): ServedMapping {
  const { body } = mapping;
  return {
    id,
    json,
    holderKey: body.holderKey,
    msp: body.msp,
    tag: body.tag,
    priority: body.priority,
    acceptedAt: mapping.acceptedAt,
    level: mapping.attestation.level,
    optOut: isOptOut(body),
    dps: [dp],
  };
}

/**
 * Federated lookup (R10, R13, R20): the CSIs go to the chosen peers in parallel, each call signed
 * (RFC 9421), bounded in time and size, behind a per-peer circuit breaker and forwarding budget.
 * Every mapping a peer returns is verified before it is used; a peer that sends one bad mapping
 * has its whole answer refused and reported.
 */
export class Fanout {
  private readonly opts: FanoutOptions;
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly limiters: Record<ThroughputClass, RateLimiter>;
  /**
   * Ids of mappings already verified under this registry serial, with when they stop being
   * valid. An id is the hash of the whole signed mapping, so the same id is the same bytes:
   * checking it again would only repeat four signature checks.
   */
  private verified = new Map<string, number>();
  private verifiedSerial = 0;

  constructor(opts: FanoutOptions) {
    this.opts = opts;
    this.limiters = {
      low: new MemoryRateLimiter({ points: forwardBudget.low, perSeconds: 60 }),
      standard: new MemoryRateLimiter({ points: forwardBudget.standard, perSeconds: 60 }),
      high: new MemoryRateLimiter({ points: forwardBudget.high, perSeconds: 60 }),
    };
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** R10: the peers a dpList names; unknown ids are refused, this DP itself is left out. */
  peersFor(dpList: DpList): string[] {
    const registry = this.opts.registry();
    const others = registry
      .allDps()
      .map((d) => d.id)
      .filter((id) => id !== this.opts.self.id);
    if (dpList === 'all') return others;
    if (dpList === 'preferred')
      return (this.opts.preferredPeers ?? others).filter((id) => others.includes(id));
    for (const id of dpList) {
      if (registry.dp(id) === undefined)
        throw new MimiError('dp-not-registered', `dpList names ${id}, which is not a DP of the registry`);
    }
    return [...new Set(dpList)].filter((id) => id !== this.opts.self.id);
  }

  breakerState(dp: string): string {
    return this.breaker(dp).state;
  }

  private breaker(dp: string): CircuitBreaker {
    let b = this.breakers.get(dp);
    if (b === undefined) {
      b = new CircuitBreaker(this.opts.breakerFailures, this.opts.breakerCooldownMs, this.opts.clock.nowMs);
      this.breakers.set(dp, b);
    }
    return b;
  }

  async lookup(csis: readonly string[], peers: readonly string[]): Promise<FanoutResult> {
    const sources: FanoutResult['sources'] = csis.map(() => []);
    const reports = await Promise.all(peers.map((dp) => this.ask(dp, csis, sources)));
    for (const r of reports) this.opts.onReport?.(r);
    return { sources, peers: reports };
  }

  private async ask(
    dp: string,
    csis: readonly string[],
    sources: FanoutResult['sources'],
  ): Promise<PeerReport> {
    const started = performance.now();
    const registry = this.opts.registry();
    const peer = registry.dp(dp)!;
    const breaker = this.breaker(dp);
    if (!breaker.allow()) return { dp, status: PeerStatus.Unavailable, code: 'circuit-open' };
    try {
      await this.limiters[peer.throughputClass].consume(dp, csis.length);
    } catch {
      breaker.success(); // not the peer's fault; do not hold the trial slot
      return { dp, status: PeerStatus.RateLimited, code: 'forward-budget' };
    }
    const request: ForwardedLookup = {
      v: 1,
      origin: this.opts.self.id,
      csis: [...csis],
      budget: { hops: 0 },
    };
    try {
      const answer = await callPeer(peer.endpoint, '/v1/federation/lookup', request, VerboseAnswer, {
        self: this.opts.self,
        timeoutMs: this.timeoutMs,
        maxAnswerBytes: this.opts.maxAnswerBytesPerCsi * csis.length,
        now: this.opts.clock.now,
      });
      const rows = this.check(answer, csis, dp);
      rows.forEach((r, i) => {
        sources[i]!.push({ dp, rows: r });
      });
      breaker.success();
      return { dp, status: PeerStatus.Ok, ms: elapsed(started) };
    } catch (err) {
      if (err instanceof PeerCallError) {
        if (err.outcome !== PeerStatus.RateLimited) breaker.failure();
        else breaker.success();
        return { dp, status: err.outcome, code: err.code, ms: elapsed(started) };
      }
      breaker.failure();
      const code = wireCodeOf(err);
      return { dp, status: PeerStatus.Error, code, ms: elapsed(started) };
    }
  }

  /** Every mapping verified, answering exactly the CSIs asked; anything else refuses the answer. */
  private check(answer: VerboseAnswer, csis: readonly string[], dp: string): ServedMapping[][] {
    if (answer.dp !== dp || answer.results.length !== csis.length) {
      throw new MimiError('record-invalid', `${dp} answered another question`);
    }
    const ctx = { registry: this.opts.registry(), policy: this.opts.policy, now: this.opts.clock.now() };
    if (ctx.registry.serial !== this.verifiedSerial) {
      this.verified = new Map();
      this.verifiedSerial = ctx.registry.serial;
    }
    return answer.results.map((r, i) => {
      if (r.csi !== csis[i]) throw new MimiError('record-invalid', `${dp} answered for another CSI`);
      return r.mappings.map((m) => {
        if (m.mapping.body.csi !== r.csi)
          throw new MimiError('record-invalid', `${dp} sent a mapping for another CSI`);
        // Canonicalised once: its hash must be the id, and it is what the answer carries on.
        const json = canonicalize(m.mapping);
        if (createHash('sha256').update(json).digest('base64url') !== m.id) {
          throw new MimiError('record-invalid', `${dp} sent a mapping under another id`);
        }
        // The id is the hash of the whole signed mapping: a verified id need not be verified again.
        const until = this.verified.get(m.id);
        if (until === undefined || until <= ctx.now) {
          verifyMapping(m.mapping, ctx);
          if (this.verified.size >= 100_000) this.verified.delete(this.verified.keys().next().value!);
          this.verified.set(m.id, Math.min(m.mapping.body.expiresAt, m.mapping.attestation.expiresAt));
        }
        const served = servedFrom(m.mapping, m.id, json, dp);
        // Passed on unchecked: whoever relies on it verifies it against the logging DP's key (R3).
        if (m.log !== undefined) served.log = JSON.stringify(m.log);
        return served;
      });
    });
  }
}
