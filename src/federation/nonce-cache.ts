import type { Redis } from 'ioredis';

/**
 * Nonces of signed peer requests seen within their validity window (RFC 9421 `nonce`): a second
 * request with the same nonce is a replay (R23). Signatures expire after a minute, so a nonce
 * need be kept no longer than `ttlMs`.
 */
export interface PeerNonces {
  /** Records the nonce; false when it was seen before (by this DP, on any of its nodes). */
  add(nonce: string): Promise<boolean>;
}

/**
 * One node's nonces, in memory. The map is bounded so a flood cannot grow it without limit.
 */
export class NonceCache implements PeerNonces {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 180_000,
    private readonly max = 1_000_000,
    private readonly clock: () => number = Date.now,
  ) {}

  async add(nonce: string): Promise<boolean> {
    return this.addNow(nonce);
  }

  addNow(nonce: string): boolean {
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

/**
 * Many nodes (R22, R23): the DP's nonces in Redis, one key per nonce set with `SET NX PX`, so a
 * request replayed to another node behind the load balancer is refused too, and Redis expires
 * the keys itself. While Redis is unreachable the node remembers nonces in memory alone (a
 * replay then succeeds only on another node, within the signature's minute, and the events it
 * carries are applied once by id anyway) rather than refusing every peer.
 */
export class RedisNonceCache implements PeerNonces {
  private readonly fallback: NonceCache;

  /** `keyPrefix`: nodes of one DP share it; keys are `<keyPrefix>:<nonce>`. */
  constructor(
    private readonly client: Redis,
    private readonly keyPrefix: string,
    private readonly ttlMs = 180_000,
  ) {
    this.fallback = new NonceCache(ttlMs);
  }

  async add(nonce: string): Promise<boolean> {
    if (this.client.status !== 'ready') return this.fallback.addNow(nonce);
    try {
      return (await this.client.set(`${this.keyPrefix}:${nonce}`, '1', 'PX', this.ttlMs, 'NX')) === 'OK';
    } catch {
      return this.fallback.addNow(nonce);
    }
  }
}
