/**
 * A cache bounded in bytes rather than entries (issue: every cache sized in config, its size in
 * the metrics), with CLOCK eviction: a hit only sets a flag, and eviction walks from the oldest
 * entry, sparing (and moving to the back) those used since the last walk. The values cached here
 * are immutable (complete subtree hashes, proofs against one checkpoint), so an entry is never
 * stale, only absent, or dropped by whoever knows it changed (the served rows: served-cache.ts).
 *
 * Written here because the npm LRUs either count entries (a proof's JSON and a block of hashes
 * differ by 10x in size) or reorder a linked list on every hit, which the proof path does
 * dozens of times per lookup.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, { value: V; bytes: number; used: boolean }>();
  private size = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now (keys and values as counted by the caller, plus a fixed overhead each). */
  get bytes(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.size;
  }

  /** Whether a value of `bytes` would be kept without evicting anything. */
  fits(bytes: number): boolean {
    return this.size + bytes + ENTRY_OVERHEAD <= this.maxBytes;
  }

  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    e.used = true;
    return e.value;
  }

  /** Adds or replaces `key`; `bytes` is the value's size. Values larger than the cache are not kept. */
  set(key: K, value: V, bytes: number): void {
    const cost = bytes + ENTRY_OVERHEAD;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.size -= old.bytes;
    }
    if (cost > this.maxBytes) return;
    this.size += cost;
    this.entries.set(key, { value, bytes: cost, used: false });
    this.evict();
  }

  delete(key: K): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.size -= e.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.hand = undefined;
    this.size = 0;
  }

  /**
   * The CLOCK hand: one live iterator over the map, kept between evictions. A fresh iterator per
   * eviction would start at the map's front, where every entry evicted so far has left a hole
   * until the map is rehashed, and each eviction would step over all of them.
   */
  private hand: IterableIterator<[K, { value: V; bytes: number; used: boolean }]> | undefined;

  private evict(): void {
    while (this.size > this.maxBytes) {
      let next = this.hand?.next();
      if (next === undefined || next.done === true) {
        // Round done: start again from the oldest entry (the iterator sees entries moved behind it).
        this.hand = this.entries.entries();
        next = this.hand.next();
        if (next.done === true) return;
      }
      const [key, e] = next.value;
      this.entries.delete(key);
      if (e.used) {
        e.used = false;
        this.entries.set(key, e);
      } else {
        this.size -= e.bytes;
      }
    }
  }
}

/** What a Map entry and its record cost besides the value, roughly, on V8. */
const ENTRY_OVERHEAD = 96;
