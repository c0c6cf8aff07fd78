import { randomBytes } from 'node:crypto';

/**
 * A map from strings to byte records, all in one growable buffer, found through an
 * open-addressing table of typed arrays (issue 16: a compact lookup reads only what it needs).
 *
 * The served-rows cache holds one entry per recently served CSI, 100,000 and more. In a V8 Map
 * a lookup touches the Map's bucket, its entry, the key string and the value string, each
 * somewhere else in the heap; here it touches the table, then one record holding the key and its
 * value side by side, and there is no V8 object per entry for the collector to trace.
 *
 * Written here because no npm package keeps variable-length byte values in one buffer with a
 * byte bound, deletion and second-chance eviction; the string-keyed caches all hold JS objects.
 *
 *   record := length:u32 flags:u8 hash:i32 key value   (length counts the whole record)
 *   key    := str
 *   str    := kind:u8 n:u16 then n characters: kind 0 a byte each (all below 0x100),
 *             kind 1 two bytes each (UTF-16 little-endian), so that any string round-trips
 *
 * Records are appended; a deleted record stays in the buffer, flagged dead, until a compaction.
 * A record read since the last compaction is flagged used. When a record does not fit, the
 * buffer grows (doubling, while the whole stays within the bound) or is compacted in place:
 * dead records go, unused ones go from the oldest on until a quarter of the buffer is free, used
 * ones stay with the flag cleared (CLOCK's second chance), and if all were used the oldest go.
 */
export class ServedArena {
  /** The records; replaced when it grows or shrinks, so read it afresh after any set. */
  buf: Buffer = Buffer.alloc(0);
  /** What findMany's second pass read, kept so that no compiler can leave the reads out. */
  touched = 0;
  private end = 0;
  private deadBytes = 0;
  /**
   * Per slot, side by side (one cache line for both): the record's offset + 1 (0: empty) at 2i,
   * its hash at 2i + 1. A power of two of slots, at most half of them full.
   */
  private table = new Int32Array(0);
  private mask = -1;
  private count = 0;
  private readonly maxBuffer: number;

  constructor(readonly maxBytes: number) {
    // Offsets are int32 in the table.
    this.maxBuffer = Math.min(maxBytes, 2 ** 31 - 1);
  }

  /** Bytes held: the buffer and the table (what the process pays for, and what the bound bounds). */
  get bytes(): number {
    return this.buf.byteLength + this.table.byteLength;
  }

  get size(): number {
    return this.count;
  }

  /** Whether a record of `key` and `valueLength` value bytes would be added without evicting. */
  fits(key: string, valueLength: number): boolean {
    if (key.length > MaxStr) return false;
    const need = this.end + recordLength(key, valueLength);
    const count = this.count + 1;
    return (need <= this.buf.byteLength && this.tableFits(count)) || this.sizeFor(need, count) !== undefined;
  }

  /**
   * Where each of `keys`' value starts in `buf`, into `out` (-1 without one; its end in `ends`),
   * each found marked used. In three passes: the table slots of all the keys are
   * read first, then the records they point to, then each key is looked up in full. The loads of
   * one pass do not depend on each other, so the CPU waits for their cache misses together
   * instead of one after another: a lookup in 100,000 records is two misses, which cost more
   * than all the rest of it (issue 16).
   */
  findMany(keys: readonly string[], out: Int32Array, ends: Int32Array): void {
    const { table, buf, mask } = this;
    const n = keys.length;
    if (mask < 0) {
      out.fill(-1, 0, n);
      return;
    }
    const hashes = scratchOf(n);
    for (let k = 0; k < n; k++) {
      const hash = hashOf(keys[k]!);
      hashes[k] = hash;
      out[k] = table[2 * (hash & mask)]!;
    }
    let touched = 0;
    for (let k = 0; k < n; k++) {
      const at = out[k]! - 1;
      if (at >= 0) touched += buf[at + Header]!;
    }
    this.touched = touched;
    for (let k = 0; k < n; k++) {
      const i = this.slotOfHash(keys[k]!, hashes[k]!);
      if (i < 0) {
        out[k] = -1;
        continue;
      }
      const at = table[2 * i]! - 1;
      buf[at + 4] = buf[at + 4]! | Used;
      ends[k] = at + u32At(buf, at);
      out[k] = strEnd(buf, at + Header);
    }
  }

  /** Adds or replaces `key` with `value`; a record that could never fit the bound is not kept. */
  set(key: string, value: Uint8Array): void {
    this.delete(key);
    if (key.length > MaxStr) return;
    const length = recordLength(key, value.length);
    if (!this.makeRoom(length)) return;
    const at = this.end;
    const { buf } = this;
    const hash = hashOf(key);
    putU32(buf, at, length);
    buf[at + 4] = 0;
    putU32(buf, at + 5, hash >>> 0);
    buf.set(value, putStr(buf, at + Header, key));
    this.end = at + length;
    this.insertSlot(hash, at);
  }

  delete(key: string): void {
    const i = this.slotOfKey(key);
    if (i >= 0) this.drop(i);
  }

  /** The slot holding `key`, or -1. */
  private slotOfKey(key: string): number {
    return this.mask < 0 ? -1 : this.slotOfHash(key, hashOf(key));
  }

  /** The slot holding `key`, whose hash is `hash`, or -1. */
  private slotOfHash(key: string, hash: number): number {
    const { table, buf, mask } = this;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const at = table[2 * i]! - 1;
      if (at < 0) return -1;
      if (table[2 * i + 1] === hash && keyEquals(buf, at + Header, key)) return i;
    }
  }

  /** The slot holding the record at `at` (whose hash is in its header). */
  private slotOfRecord(at: number): number {
    const { table, mask } = this;
    let i = (u32At(this.buf, at + 5) | 0) & mask;
    while (table[2 * i] !== at + 1) i = (i + 1) & mask;
    return i;
  }

  /** Room for a record of `length` bytes at `end`, the buffer resized or compacted; false if it never fits. */
  private makeRoom(length: number): boolean {
    const count = this.count + 1;
    if (this.end + length <= this.buf.byteLength && this.tableFits(count)) return true;
    let size = this.sizeFor(this.end + length, count);
    if (size === undefined) {
      const most = this.largestBuffer(count);
      if (length > most) return false;
      this.compact(length, most);
      size = this.sizeFor(this.end + length, this.count + 1)!;
    }
    this.resize(size, this.count + 1);
    return true;
  }

  private tableFits(count: number): boolean {
    return count * 4 <= this.table.length;
  }

  /** The largest buffer the bound leaves next to a table for `count` records. */
  private largestBuffer(count: number): number {
    return this.maxBuffer - tableSlots(count) * 8;
  }

  /** The buffer's size for `need` bytes and `count` records: doubled, within the bound; undefined if over it. */
  private sizeFor(need: number, count: number): number | undefined {
    const most = this.largestBuffer(count);
    if (need > most) return undefined;
    let n = Math.max(this.buf.byteLength, 1 << 16);
    while (n < need) n *= 2;
    return Math.min(n, most);
  }

  private resize(size: number, count: number): void {
    if (size !== this.buf.byteLength) {
      const next = Buffer.alloc(size);
      next.set(this.buf.subarray(0, this.end));
      this.buf = next;
    }
    if (!this.tableFits(count)) this.rehash(tableSlots(count));
  }

  /**
   * Makes `length` bytes and a quarter of a `most`-byte buffer free: drops unused records from
   * the oldest on, then (if that was not enough) used ones; the survivors lose their used flag
   * and move down over the gaps, in order.
   */
  private compact(length: number, most: number): void {
    const { buf } = this;
    let over = this.end - this.deadBytes - Math.max(0, most - length - (most >> 2));
    for (const spareUsed of [true, false]) {
      for (let at = 0; at < this.end && over > 0; at += u32At(buf, at)) {
        const flags = buf[at + 4]!;
        if ((flags & Dead) !== 0 || (spareUsed && (flags & Used) !== 0)) continue;
        over -= u32At(buf, at);
        this.drop(this.slotOfRecord(at));
      }
    }
    let to = 0;
    for (let at = 0; at < this.end; ) {
      const n = u32At(buf, at);
      if ((buf[at + 4]! & Dead) === 0) {
        buf[at + 4] = 0;
        if (to !== at) {
          this.table[2 * this.slotOfRecord(at)] = to + 1;
          buf.copyWithin(to, at, at + n);
        }
        to += n;
      }
      at += n;
    }
    this.end = to;
    this.deadBytes = 0;
  }

  /** Flags slot `i`'s record dead and empties the slot. */
  private drop(i: number): void {
    const { buf } = this;
    const at = this.table[2 * i]! - 1;
    buf[at + 4] = buf[at + 4]! | Dead;
    this.deadBytes += u32At(buf, at);
    this.removeSlot(i);
  }

  private insertSlot(hash: number, at: number): void {
    const { table, mask } = this;
    let i = hash & mask;
    while (table[2 * i] !== 0) i = (i + 1) & mask;
    table[2 * i] = at + 1;
    table[2 * i + 1] = hash;
    this.count++;
  }

  /** Empties slot `i`, moving later slots of its probe run back so that none is cut off. */
  private removeSlot(i: number): void {
    const { table, mask } = this;
    let hole = i;
    for (let j = (i + 1) & mask; table[2 * j] !== 0; j = (j + 1) & mask) {
      // Slot j may fill the hole unless its home lies cyclically in (hole, j].
      if (((j - (table[2 * j + 1]! & mask)) & mask) >= ((j - hole) & mask)) {
        table[2 * hole] = table[2 * j]!;
        table[2 * hole + 1] = table[2 * j + 1]!;
        hole = j;
      }
    }
    table[2 * hole] = 0;
    this.count--;
  }

  private rehash(slots: number): void {
    const old = this.table;
    this.table = new Int32Array(2 * slots);
    this.mask = slots - 1;
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.insertSlot(old[i + 1]!, old[i]! - 1);
  }
}

const Used = 1;
const Dead = 2;
/** length:u32, flags:u8, hash:i32. */
const Header = 9;
const Wide = 1;
/** The longest key or text a str holds. */
export const MaxStr = 0x7fff;

let hashScratch = new Int32Array(128);

function scratchOf(n: number): Int32Array {
  if (hashScratch.length < n) hashScratch = new Int32Array(2 * n);
  return hashScratch;
}

function recordLength(key: string, valueLength: number): number {
  return Header + strLength(key) + valueLength;
}

/** Table slots for `count` records: a power of two, at most half full. */
function tableSlots(count: number): number {
  let n = 16;
  while (n < count * 2) n *= 2;
  return n;
}

/**
 * A keyed hash of the string's UTF-16 code units: FNV-1a from a random start, then murmur3's
 * finaliser. The start is this process's own, so that nobody can choose CSIs that all land on
 * one probe run (lookups of CSIs with nothing served are cached too). Exported for its test.
 */
export function hashOf(s: string): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const seed = randomBytes(4).readInt32LE(0);

function isWide(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return true;
  return false;
}

/** A str's bytes: its kind, its length, its characters. */
export function strLength(s: string): number {
  return 3 + (isWide(s) ? 2 * s.length : s.length);
}

/** Writes `s` as a str at `at` (s.length <= MaxStr); returns where it ends. */
export function putStr(buf: Uint8Array, at: number, s: string): number {
  const wide = isWide(s);
  const n = s.length;
  buf[at] = wide ? Wide : 0;
  buf[at + 1] = n >> 8;
  buf[at + 2] = n & 0xff;
  let i = at + 3;
  if (wide) {
    for (let k = 0; k < n; k++) {
      const c = s.charCodeAt(k);
      buf[i++] = c & 0xff;
      buf[i++] = c >> 8;
    }
  } else for (let k = 0; k < n; k++) buf[i++] = s.charCodeAt(k);
  return i;
}

/** Where the str at `at` ends. */
export function strEnd(buf: Uint8Array, at: number): number {
  const n = (buf[at + 1]! << 8) | buf[at + 2]!;
  return at + 3 + (buf[at] === Wide ? 2 * n : n);
}

/** The str at `at`. */
export function strAt(buf: Buffer, at: number): string {
  const n = (buf[at + 1]! << 8) | buf[at + 2]!;
  // Both copy the code units as they are (a lone surrogate too).
  return buf[at] === Wide
    ? buf.toString('utf16le', at + 3, at + 3 + 2 * n)
    : buf.toString('latin1', at + 3, at + 3 + n);
}

function keyEquals(buf: Uint8Array, at: number, key: string): boolean {
  const n = key.length;
  if (((buf[at + 1]! << 8) | buf[at + 2]!) !== n) return false;
  const p = at + 3;
  if (buf[at] === Wide) {
    for (let k = 0; k < n; k++) {
      if ((buf[p + 2 * k]! | (buf[p + 2 * k + 1]! << 8)) !== key.charCodeAt(k)) return false;
    }
    return true;
  }
  for (let k = 0; k < n; k++) if (buf[p + k] !== key.charCodeAt(k)) return false;
  return true;
}

export function u32At(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

export function putU32(buf: Uint8Array, at: number, x: number): void {
  buf[at] = x >>> 24;
  buf[at + 1] = (x >>> 16) & 0xff;
  buf[at + 2] = (x >>> 8) & 0xff;
  buf[at + 3] = x & 0xff;
}
