/**
 * A cache bounded in bytes rather than entries (issue: every cache sized in config, its size in
 * the metrics), with CLOCK eviction: a hit only sets a flag, and eviction sweeps the slots in
 * order, sparing (and clearing the flag of) those used since the hand last passed. The values
 * cached here are immutable (complete subtree hashes, proofs against one checkpoint), so an entry
 * is never stale, only absent, or dropped by whoever knows it changed (the served rows:
 * served-cache.ts).
 *
 * Entries live in parallel arrays, found by slot number through one Map of key to slot: no object
 * per entry (the served-rows cache holds one per served CSI, 100,000 and more), and a hit reads
 * the Map, the value and one byte.
 *
 * Written here because the npm LRUs either count entries (a proof's JSON and a block of hashes
 * differ by 10x in size) or reorder a linked list on every hit, which the proof path does
 * dozens of times per lookup.
 */
export class BoundedCache<K, V> {
  private readonly slots = new Map<K, number>();
  private keys: (K | undefined)[] = [];
  private values: (V | undefined)[] = [];
  /** Each slot's cost (its value's bytes plus ENTRY_OVERHEAD); 0 for a free slot. */
  private costs: number[] = [];
  private used = new Uint8Array(16);
  /** Slots emptied by delete or eviction, reused before the arrays grow. */
  private free: number[] = [];
  /** The CLOCK hand: the next slot the sweep looks at. */
  private hand = 0;
  private size = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now (values as counted by the caller, plus ENTRY_OVERHEAD each). */
  get bytes(): number {
    return this.size;
  }

  get count(): number {
    return this.slots.size;
  }

  /** Whether a value of `bytes` would be kept without evicting anything. */
  fits(bytes: number): boolean {
    return this.size + bytes + ENTRY_OVERHEAD <= this.maxBytes;
  }

  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.used[slot] = 1;
    return this.values[slot];
  }

  /** Adds or replaces `key`; `bytes` is the value's size. Values larger than the cache are not kept. */
  set(key: K, value: V, bytes: number): void {
    const cost = bytes + ENTRY_OVERHEAD;
    this.delete(key);
    if (cost > this.maxBytes) return;
    const slot = this.free.pop() ?? this.grow();
    this.slots.set(key, slot);
    this.keys[slot] = key;
    this.values[slot] = value;
    this.costs[slot] = cost;
    this.used[slot] = 0;
    this.size += cost;
    this.evict(slot);
  }

  delete(key: K): void {
    const slot = this.slots.get(key);
    if (slot !== undefined) this.drop(slot);
  }

  clear(): void {
    this.slots.clear();
    this.keys = [];
    this.values = [];
    this.costs = [];
    this.used = new Uint8Array(16);
    this.free = [];
    this.hand = 0;
    this.size = 0;
  }

  /** A new slot at the end of the arrays. */
  private grow(): number {
    const slot = this.keys.length;
    this.keys.push(undefined);
    this.values.push(undefined);
    this.costs.push(0);
    if (slot === this.used.length) {
      const more = new Uint8Array(slot * 2);
      more.set(this.used);
      this.used = more;
    }
    return slot;
  }

  private drop(slot: number): void {
    this.slots.delete(this.keys[slot]!);
    this.size -= this.costs[slot]!;
    this.keys[slot] = undefined;
    this.values[slot] = undefined;
    this.costs[slot] = 0;
    this.free.push(slot);
  }

  /** Sweeps until the cache is within its bound again, never evicting `keep` (just set). */
  private evict(keep: number): void {
    const n = this.keys.length;
    while (this.size > this.maxBytes) {
      const slot = this.hand;
      this.hand = slot + 1 === n ? 0 : slot + 1;
      if (this.costs[slot] === 0 || slot === keep) continue;
      if (this.used[slot] === 1) this.used[slot] = 0;
      else this.drop(slot);
    }
  }
}

/**
 * What a Map entry and the entry's array slots cost besides the value, roughly, on V8
 * (bench/served-cache.ts: 234 bytes of heap a one-row CSI, 237 counted).
 */
export const ENTRY_OVERHEAD = 80;
