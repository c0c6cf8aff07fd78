import type { Redis } from 'ioredis';
import type { Store } from '../store/store.js';

/**
 * Nonces of signed peer requests seen within their validity window (RFC 9421 `nonce`): a second
 * request with the same nonce is a replay (R23). A nonce is kept until the signature it came
 * with can no longer be accepted (`keepUntil`, seconds).
 */
export interface PeerNonces {
  /** Records the nonce; false when it was seen before (by this DP, on any of its nodes). */
  add(nonce: string, keepUntil: number): Promise<boolean>;
}

/**
 * The DP's store keeps the nonces, in the table of single-use request ids (`seen_requests`, purged
 * after expiry): they outlive a restart, even kill -9, and nodes sharing one database share them.
 * Nothing is held in memory, so no flood can push a live nonce out.
 */
export class StoreNonces implements PeerNonces {
  constructor(private readonly store: Store) {}

  add(nonce: string, keepUntil: number): Promise<boolean> {
    // A prefix no request digest starts with: peer nonces and request ids never collide.
    return this.store.write((tx) => tx.rememberRequest(`peer-nonce:${nonce}`, keepUntil));
  }
}

/**
 * Many nodes (R22, R23): Redis first, one key per nonce set with `SET NX PX`, so a replay to any
 * node is refused without a store write; then the store, which decides. Redis here keeps nothing
 * on disk (a Redis restart forgets every key), so it is only the fast path: a nonce it does not
 * know, or a Redis that is unreachable, falls through to the store.
 */
export class RedisNonceCache implements PeerNonces {
  /** `keyPrefix`: nodes of one DP share it; keys are `<keyPrefix>:<nonce>`. */
  constructor(
    private readonly client: Redis,
    private readonly keyPrefix: string,
    private readonly durable: PeerNonces,
    private readonly clock: () => number = Date.now,
  ) {}

  async add(nonce: string, keepUntil: number): Promise<boolean> {
    if (this.client.status === 'ready') {
      const ttlMs = Math.max(1, keepUntil * 1000 - this.clock());
      const set = await this.client
        .set(`${this.keyPrefix}:${nonce}`, '1', 'PX', ttlMs, 'NX')
        .catch(() => 'down');
      if (set === null) return false;
    }
    return this.durable.add(nonce, keepUntil);
  }
}
