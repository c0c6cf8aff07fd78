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
 * check reads three buckets of a few numbers each instead of every number around it. The buckets
 * are an open-addressing table in typed arrays (linear probing, backward-shift deletion), each
 * bucket a chain through the ring's samples: no object per sample or bucket. This runs for every
 * CSI of every lookup; with a Map of arrays it was a sixth of a 100-CSI compact request (issue 16).
 */
export class ReputationWindow {
  private readonly at: Float64Array;
  private readonly miss: Uint8Array;
  /** The number's digits as a number (E.164 has at most 15: exact in a double), NaN for email. */
  private readonly num: Float64Array;
  private readonly near: Uint8Array;
  /** The next sample of the same bucket, -1 at a chain's end. */
  private readonly next: Int32Array;
  private head = 0;
  private size = 0;
  /** Bucket table: its key (Math.floor(n / distance)), its chain's first sample (-1: empty slot). */
  private readonly bucketKey: Float64Array;
  private readonly bucketFirst: Int32Array;
  private readonly mask: number;
  private readonly totals: ReputationStats = { samples: 0, misses: 0, numbers: 0, sequential: 0 };

  constructor(private readonly settings: ReputationSettings) {
    const n = settings.maxSamples;
    this.at = new Float64Array(n);
    this.miss = new Uint8Array(n);
    this.num = new Float64Array(n);
    this.near = new Uint8Array(n);
    this.next = new Int32Array(n);
    // At most n buckets in use: a table of at least 2n slots keeps probes short.
    let slots = 16;
    while (slots < 2 * n) slots *= 2;
    this.bucketKey = new Float64Array(slots);
    this.bucketFirst = new Int32Array(slots).fill(-1);
    this.mask = slots - 1;
  }

  add(samples: readonly LookupSample[], now: number): void {
    this.expire(now);
    for (const s of samples) {
      if (this.size === this.settings.maxSamples) this.dropOldest();
      const n = s.csi.startsWith('tel:+') ? Number(s.csi.slice(5)) : Number.NaN;
      const near = !Number.isNaN(n) && this.hasNeighbour(n);
      const i = (this.head + this.size) % this.settings.maxSamples;
      this.at[i] = now;
      this.miss[i] = s.miss ? 1 : 0;
      this.num[i] = n;
      this.near[i] = near ? 1 : 0;
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
      const slot = this.slotOf(b);
      for (let j = slot < 0 ? -1 : this.bucketFirst[slot]!; j !== -1; j = this.next[j]!) {
        const m = this.num[j]!;
        if (m !== n && Math.abs(m - n) <= d) return true;
      }
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
    if (this.miss[i] === 1) this.totals.misses += by;
    const n = this.num[i]!;
    if (Number.isNaN(n)) return;
    this.totals.numbers += by;
    if (this.near[i] === 1) this.totals.sequential += by;
    const k = Math.floor(n / this.settings.sequentialDistance);
    if (by === 1) {
      let slot = this.home(k);
      while (this.bucketFirst[slot]! !== -1 && this.bucketKey[slot] !== k) slot = (slot + 1) & this.mask;
      this.bucketKey[slot] = k;
      this.next[i] = this.bucketFirst[slot]!;
      this.bucketFirst[slot] = i;
      return;
    }
    const slot = this.slotOf(k);
    if (slot < 0) return;
    // Unlink sample i from its bucket's chain.
    if (this.bucketFirst[slot] === i) this.bucketFirst[slot] = this.next[i]!;
    else {
      let j = this.bucketFirst[slot]!;
      while (j !== -1 && this.next[j] !== i) j = this.next[j]!;
      if (j !== -1) this.next[j] = this.next[i]!;
    }
    if (this.bucketFirst[slot] === -1) this.vacate(slot);
  }

  /** Where bucket k's probe starts. */
  private home(k: number): number {
    // The key's two 32-bit halves, mixed (the keys reach 10^15 / distance: above 2^32).
    const h = (k >>> 0) ^ Math.floor(k / 4294967296);
    return Math.imul(h ^ (h >>> 16), 0x45d9f3b) & this.mask;
  }

  /** The slot of bucket k, or -1. */
  private slotOf(k: number): number {
    for (let slot = this.home(k); this.bucketFirst[slot]! !== -1; slot = (slot + 1) & this.mask)
      if (this.bucketKey[slot] === k) return slot;
    return -1;
  }

  /** Empties a slot, moving later entries of its probe run back so that every probe still finds them. */
  private vacate(slot: number): void {
    let hole = slot;
    this.bucketFirst[hole] = -1;
    for (let j = (hole + 1) & this.mask; this.bucketFirst[j]! !== -1; j = (j + 1) & this.mask) {
      const home = this.home(this.bucketKey[j]!);
      // j may move to the hole when its home is not cyclically in (hole, j].
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.bucketKey[hole] = this.bucketKey[j]!;
        this.bucketFirst[hole] = this.bucketFirst[j]!;
        this.bucketFirst[j] = -1;
        hole = j;
      }
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
