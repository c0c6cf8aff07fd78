/**
 * A small log-linear latency histogram over integer microseconds (HdrHistogram-style): exact below
 * 128 us, then 64 sub-buckets per power of two, so any percentile is within 1.6% of the truth.
 */
const exactBelow = 128;
const subBuckets = 64;
const maxValue = 2 ** 31 - 1;

export class LatencyHistogram {
  private readonly counts = new Float64Array(exactBelow + (31 - 7) * subBuckets);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  private sum = 0;

  /** Records one latency in microseconds. */
  record(us: number): void {
    const v = Math.min(maxValue, Math.max(0, Math.round(us)));
    this.counts[indexOf(v)]!++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The value at percentile p (0-100), in microseconds: the middle of the bucket that holds it. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const [lo, hi] = boundsOf(i);
        return Math.min(this.max, Math.max(this.min, (lo + hi) / 2));
      }
    }
    return this.max;
  }
}

function indexOf(v: number): number {
  if (v < exactBelow) return v;
  const msb = 31 - Math.clz32(v); // >= 7
  const shift = msb - 6;
  return exactBelow + (msb - 7) * subBuckets + ((v >>> shift) - subBuckets);
}

function boundsOf(index: number): [number, number] {
  if (index < exactBelow) return [index, index];
  const msb = 7 + Math.floor((index - exactBelow) / subBuckets);
  const sub = subBuckets + ((index - exactBelow) % subBuckets);
  const shift = msb - 6;
  return [sub * 2 ** shift, (sub + 1) * 2 ** shift - 1];
}
