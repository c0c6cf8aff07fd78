/**
 * Nonces of signed peer requests seen within their validity window (RFC 9421 `nonce`): a second
 * request with the same nonce is a replay. Signatures expire after a minute, so entries older
 * than `ttlMs` can go; the map is bounded so a flood cannot grow it without limit.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 180_000,
    private readonly max = 1_000_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Records the nonce; false when it was seen before. */
  add(nonce: string): boolean {
    const now = this.clock();
    if (this.seen.size >= this.max) this.purge(now);
    const expires = this.seen.get(nonce);
    if (expires !== undefined && expires > now) return false;
    this.seen.set(nonce, now + this.ttlMs);
    return true;
  }

  private purge(now: number): void {
    for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
    // Still full of live nonces: drop the oldest half rather than refuse every peer.
    if (this.seen.size >= this.max) {
      let n = Math.floor(this.max / 2);
      for (const k of this.seen.keys()) {
        if (n-- <= 0) break;
        this.seen.delete(k);
      }
    }
  }
}
