/**
 * R22, "differential access based on reputation": what an MSP's recent lookups look like. Per
 * MSP, a rolling window of its last looked-up CSIs (at most `maxSamples`, none older than
 * `windowSeconds`) gives two ratios: misses (CSIs with nothing served, over all) and sequential
 * numbers (E.164 numbers within `sequentialDistance` of another number in the window, over all
 * numbers). A contact sync asks for scattered numbers, many of them known; a scan of a number
 * range asks for neighbours, nearly all unknown. Pure: the caller passes the time; no I/O.
 */
export interface ReputationSettings {
  windowSeconds: number;
  /** CSIs kept per MSP: memory is bounded by this times the registry's MSPs. */
  maxSamples: number;
  /** No verdict on fewer CSIs than this (nor on the sequential share with fewer numbers). */
  minSamples: number;
  /** Slowed when more than this share of its CSIs had nothing served (0 to 1). */
  maxMissRatio: number;
  /** Slowed when more than this share of its numbers lie near another of its numbers (0 to 1). */
  maxSequentialShare: number;
  /** "Near": 1 to this far apart (the same number twice is a repeat, not a scan). */
  sequentialDistance: number;
  /** While slowed, its lookup budgets are divided by this. */
  slowdownFactor: number;
}

export const defaultReputationSettings: ReputationSettings = {
  windowSeconds: 3600,
  maxSamples: 2048,
  minSamples: 200,
  maxMissRatio: 0.97,
  maxSequentialShare: 0.5,
  sequentialDistance: 16,
  slowdownFactor: 10,
};

export interface LookupSample {
  /** The canonical CSI looked up. */
  csi: string;
  /** Nothing served for it (status none). */
  miss: boolean;
}

export interface ReputationStats {
  samples: number;
  misses: number;
  /** E.164 numbers among the samples, and those that were near an earlier one when looked up. */
  numbers: number;
  sequential: number;
}

/**
 * The window of one MSP: a ring of samples, and its numbers by bucket of width `distance`: a
 * number's neighbours (within `distance`) all lie in its own bucket or the two beside it, so a
 * check reads three buckets of a few numbers each instead of every number around it.
 */
export class ReputationWindow {
  private readonly at: number[];
  private readonly miss: boolean[];
  /** The number's digits as a number (E.164 has at most 15: exact in a double), NaN for email. */
  private readonly num: number[];
  private readonly near: boolean[];
  private head = 0;
  private size = 0;
  /** The numbers in the window, by bucket (Math.floor(n / distance)), once per sample. */
  private readonly perBucket = new Map<number, number[]>();
  private readonly totals: ReputationStats = { samples: 0, misses: 0, numbers: 0, sequential: 0 };

  constructor(private readonly settings: ReputationSettings) {
    const n = settings.maxSamples;
    this.at = new Array<number>(n);
    this.miss = new Array<boolean>(n);
    this.num = new Array<number>(n);
    this.near = new Array<boolean>(n);
  }

  add(samples: readonly LookupSample[], now: number): void {
    this.expire(now);
    for (const s of samples) {
      if (this.size === this.settings.maxSamples) this.dropOldest();
      const n = s.csi.startsWith('tel:+') ? Number(s.csi.slice(5)) : Number.NaN;
      const near = !Number.isNaN(n) && this.hasNeighbour(n);
      const i = (this.head + this.size) % this.settings.maxSamples;
      this.at[i] = now;
      this.miss[i] = s.miss;
      this.num[i] = n;
      this.near[i] = near;
      this.size++;
      this.count(i, 1);
    }
  }

  /** Drops what is older than the window. */
  expire(now: number): void {
    while (this.size > 0 && this.at[this.head]! <= now - this.settings.windowSeconds) this.dropOldest();
  }

  stats(now: number): ReputationStats {
    this.expire(now);
    return { ...this.totals };
  }

  private hasNeighbour(n: number): boolean {
    const d = this.settings.sequentialDistance;
    const k = Math.floor(n / d);
    for (let b = k - 1; b <= k + 1; b++) {
      const numbers = this.perBucket.get(b);
      if (numbers === undefined) continue;
      for (const m of numbers) if (m !== n && Math.abs(m - n) <= d) return true;
    }
    return false;
  }

  private dropOldest(): void {
    this.count(this.head, -1);
    this.head = (this.head + 1) % this.settings.maxSamples;
    this.size--;
  }

  private count(i: number, by: 1 | -1): void {
    this.totals.samples += by;
    if (this.miss[i]) this.totals.misses += by;
    const n = this.num[i]!;
    if (Number.isNaN(n)) return;
    this.totals.numbers += by;
    if (this.near[i]) this.totals.sequential += by;
    const k = Math.floor(n / this.settings.sequentialDistance);
    const numbers = this.perBucket.get(k);
    if (by === 1) {
      if (numbers === undefined) this.perBucket.set(k, [n]);
      else numbers.push(n);
    } else if (numbers !== undefined) {
      // The oldest sample leaves: its number is the first of its value in the bucket.
      numbers.splice(numbers.indexOf(n), 1);
      if (numbers.length === 0) this.perBucket.delete(k);
    }
  }
}

export interface ReputationVerdict {
  missRatio: number;
  sequentialShare: number;
  /** Over a threshold now. */
  over: boolean;
  /** Budgets cut: over now, or over less than a window ago. */
  slowed: boolean;
  slowedUntil: number;
}

/**
 * The decision. A slowed MSP stays slowed for a window after it was last over a threshold, so
 * a ratio near its threshold does not flip (and log) at every batch, and an MSP that stops
 * scanning recovers by itself. `slowedUntil` is the previous verdict's (0 at first).
 */
export function judgeReputation(
  stats: ReputationStats,
  settings: ReputationSettings,
  slowedUntil: number,
  now: number,
): ReputationVerdict {
  const missRatio = stats.samples === 0 ? 0 : stats.misses / stats.samples;
  const sequentialShare = stats.numbers === 0 ? 0 : stats.sequential / stats.numbers;
  const over =
    (stats.samples >= settings.minSamples && missRatio > settings.maxMissRatio) ||
    (stats.numbers >= settings.minSamples && sequentialShare > settings.maxSequentialShare);
  const until = over ? now + settings.windowSeconds : slowedUntil;
  return { missRatio, sequentialShare, over, slowed: now < until, slowedUntil: until };
}

export interface LookupBudget {
  perMinute: number;
  perDay: number;
}

/** The budget an MSP gets: its tier (or the default), divided by the factor while slowed. */
export function effectiveBudget(tier: LookupBudget, slowed: boolean, factor: number): LookupBudget {
  if (!slowed) return tier;
  return {
    perMinute: Math.max(1, Math.floor(tier.perMinute / factor)),
    perDay: Math.max(1, Math.floor(tier.perDay / factor)),
  };
}
