import type {
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
} from '../store/store.js';
import { BoundedCache } from './bounded-cache.js';

/**
 * The served rows of recently looked-up CSIs, without their signed records, in memory, bounded in
 * bytes (issue 16: lookups at the speed of the store; every cache sized in config, its size in
 * the metrics). Compact lookups (R15) read nothing else, so they read no database once a CSI
 * was seen.
 *
 * What a lookup answers is a function of the CSI's active, unexpired mappings. Two things change
 * it: a write of the mappings table and the passing of time. Writes are seen here, not trusted to
 * callers: the store is wrapped so that every write transaction reports the CSIs it changes
 * (`insertMapping` names its CSI; `setState` names ids, whose CSIs the transaction reads), and
 * those CSIs are dropped from the cache once the transaction has settled, before its caller hears
 * of it. Time is applied at every read: each cached row keeps its expiry and a row past it is left
 * out, as the store's own query leaves it out. So an invalidation, a CSIP event, a contest's
 * outcome or an accept is never answered from an older state once it is acknowledged.
 *
 * Only for a store that this process alone writes (SQLite: one node per file); with PostgreSQL,
 * other nodes write the same rows and this cache would not see it, so the node leaves it off.
 * Reads that ran while a write settled do not fill the cache (the epoch), so a read begun before
 * a commit cannot store the state from before it.
 */
export class ServedCache {
  private readonly entries: BoundedCache<string, Entry>;
  /** Bumped by every settled write that changed mappings: a read spanning one keeps nothing. */
  private epoch = 0;

  /** `onRead` is told, per read, how many CSIs were answered from memory and how many were not. */
  constructor(
    maxBytes: number,
    private readonly onRead?: (hits: number, misses: number) => void,
  ) {
    this.entries = new BoundedCache(maxBytes);
  }

  get bytes(): number {
    return this.entries.bytes;
  }

  /** `store` seen through the cache: its served reads answered from it, its writes watched. */
  wrap(store: Store): Store {
    const cache = this;
    return new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'servedMappings') {
          return (csis: readonly string[], now: number, opts?: ServedReadOptions) =>
            cache.read(target, csis, now, opts);
        }
        if (prop === 'write') {
          return <T>(fn: (tx: StoreTx) => Promise<T>) => cache.write(target, fn);
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /**
   * Fills the cache from `store` at start, CSI by CSI in their order, until it is full or every
   * served CSI is in: compact lookups then read no database from the first request on, not only
   * once each CSI was asked once. Returns the CSIs loaded.
   */
  async warm(store: Store, now: number, batch = 1000): Promise<number> {
    let after: string | null = null;
    let loaded = 0;
    for (;;) {
      const from: string | null = after;
      const csis: string[] = await store.write((tx) => tx.servedCsisAfter(from, batch, now));
      if (csis.length === 0) break;
      const epoch = this.epoch;
      const read = await store.servedMappings(csis, now, { json: false });
      // A write that settled meanwhile may have changed these: leave them to be read when asked.
      after = csis.at(-1)!;
      if (epoch !== this.epoch) continue;
      for (const csi of csis) {
        const e = entryOf(read.get(csi) ?? [], now);
        if (e === undefined) continue;
        const bytes = bytesOf(csi, e);
        // Full: what is in stays (warming evicts nothing).
        if (!this.entries.fits(bytes)) return loaded;
        this.entries.set(csi, e, bytes);
        loaded++;
      }
    }
    return loaded;
  }

  private async read(
    store: Store,
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    // Only reads without the signed record (R15 compact) are kept: a served row is a few hundred
    // bytes without it and two kilobytes with it, so the whole directory's compact state fits
    // where a tenth of its records would.
    if (opts?.json !== false) return store.servedMappings(csis, now, opts);
    const out = new Map<string, ServedStoredMapping[]>();
    const missing: string[] = [];
    for (const csi of csis) {
      const e = this.entries.get(csi);
      // A clock set back cannot bring back rows that had expired when the entry was read.
      if (e === undefined || now < readAtOf(e)) missing.push(csi);
      else out.set(csi, rowsOf(e, now));
    }
    this.onRead?.(csis.length - missing.length, missing.length);
    if (missing.length === 0) return out;
    const epoch = this.epoch;
    const read = await store.servedMappings(missing, now, opts);
    const keep = epoch === this.epoch;
    for (const csi of missing) {
      const rows = read.get(csi) ?? [];
      out.set(csi, rows);
      const e = keep ? entryOf(rows, now) : undefined;
      if (e !== undefined) this.entries.set(csi, e, bytesOf(csi, e));
    }
    return out;
  }

  private async write<T>(store: Store, fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const changed = new Set<string>();
    try {
      return await store.write((tx) => fn(watched(tx, changed)));
    } finally {
      // Settled (committed or rolled back): what it changed is read afresh from now on.
      if (changed.size > 0) {
        this.epoch++;
        for (const csi of changed) this.entries.delete(csi);
      }
    }
  }
}

/**
 * One CSI's served rows as the cache keeps them: one string, which V8 stores as one block of a
 * byte a character (234 bytes of heap a one-row CSI with the cache's own slot, against 453 for
 * the same rows as objects in an array: bench/served-cache.ts). Each character below 0x100 is a
 * byte, as in `latin1`; text keeps its own characters, so any string round-trips.
 *
 *   entry  := readAt:number row*         (the rows to their end: no count)
 *   row    := flags:u8 priority:number acceptedAt:number expiresAt:number [msp:text] tag:text
 *             level:text idLength:u16 holderKeyLength:u16 id holderKey
 *   number := 0 u32 (big-endian) | 1 the 8 bytes of its float64 (anything else)
 *   text   := u16 below 0x8000: the shared value of that number (see `shared`)
 *           | u16 0x8000 + n, then its n characters
 *
 * Every number is stored exactly, so a row read back equals the row read from the store; readAt
 * is when it was read, for a clock set back. What a read decodes comes first and is a few dozen
 * bytes; the id and the holder key are sliced out (V8 points into the entry for a slice of 13
 * characters or more, copying nothing).
 */
type Entry = string;

const OptOut = 1;
const NoMsp = 2;
const Inline = 0x8000;

/** The entry for rows read at `now`, or undefined for one it cannot hold (a text of 32 k characters). */
function entryOf(rows: readonly ServedStoredMapping[], now: number): Entry | undefined {
  const parts = [numberOf(now)];
  for (const r of rows) {
    if (r.id.length >= Inline || r.holderKey.length >= Inline) return undefined;
    const texts = [r.msp === null ? '' : textOf(r.msp), textOf(r.tag), textOf(r.level)];
    if (texts.includes(undefined)) return undefined;
    parts.push(
      String.fromCharCode((r.optOut ? OptOut : 0) | (r.msp === null ? NoMsp : 0)),
      numberOf(r.priority),
      numberOf(r.acceptedAt),
      numberOf(r.expiresAt),
      ...(texts as string[]),
      u16(r.id.length),
      u16(r.holderKey.length),
      r.id,
      r.holderKey,
    );
  }
  // join makes one flat string (a concatenation would keep a tree of its parts).
  return parts.join('');
}

/** When the entry was read. */
function readAtOf(e: Entry): number {
  at = 0;
  return numberAt(e);
}

/** The rows of an entry that are served at `now` (a row is served while expiresAt > now). */
function rowsOf(e: Entry, now: number): ServedStoredMapping[] {
  const rows: ServedStoredMapping[] = [];
  at = 0;
  numberAt(e);
  while (at < e.length) {
    const flags = e.charCodeAt(at++);
    const priority = numberAt(e);
    const acceptedAt = numberAt(e);
    const expiresAt = numberAt(e);
    const msp = (flags & NoMsp) !== 0 ? null : textAt(e);
    const tag = textAt(e);
    const level = textAt(e) as ServedStoredMapping['level'];
    const idEnd = at + 4 + u16At(e, at);
    const end = idEnd + u16At(e, at + 2);
    const start = at + 4;
    at = end;
    if (expiresAt <= now) continue;
    const id = e.slice(start, idEnd);
    const holderKey = e.slice(idEnd, end);
    rows.push({
      id,
      json: '',
      holderKey,
      msp,
      tag,
      priority,
      acceptedAt,
      expiresAt,
      level,
      optOut: (flags & OptOut) !== 0,
    });
  }
  return rows;
}

/**
 * Values seen in many rows (MSP, tag, level), one copy each, numbered; bounded, so that distinct
 * values beyond it are kept in each entry that has them.
 */
const shared = { numbers: new Map<string, number>(), values: [] as string[] };
const sharedLimit = 4096;

function textOf(value: string): string | undefined {
  let n = shared.numbers.get(value);
  if (n === undefined && shared.values.length < sharedLimit) {
    n = shared.values.push(value) - 1;
    shared.numbers.set(value, n);
  }
  if (n !== undefined) return u16(n);
  return value.length < Inline ? u16(Inline + value.length) + value : undefined;
}

function u16(n: number): string {
  return String.fromCharCode(n >> 8, n & 0xff);
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);

function numberOf(x: number): string {
  if (Number.isInteger(x) && x >= 0 && x <= 0xffffffff && !Object.is(x, -0)) {
    return String.fromCharCode(0, x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff);
  }
  float64[0] = x;
  const b = float64Bytes;
  return String.fromCharCode(1, b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!);
}

/** Where the entry being read is read next (an entry is read in one go, never two at once). */
let at = 0;

function numberAt(e: Entry): number {
  if (e.charCodeAt(at) === 0) {
    const x =
      ((e.charCodeAt(at + 1) << 24) |
        (e.charCodeAt(at + 2) << 16) |
        (e.charCodeAt(at + 3) << 8) |
        e.charCodeAt(at + 4)) >>>
      0;
    at += 5;
    return x;
  }
  return floatAt(e);
}

/** Apart, so that numberAt's common case stays small enough to be inlined. */
function floatAt(e: Entry): number {
  for (let i = 0; i < 8; i++) float64Bytes[i] = e.charCodeAt(at + 1 + i);
  at += 9;
  return float64[0]!;
}

function u16At(e: Entry, i: number): number {
  return (e.charCodeAt(i) << 8) | e.charCodeAt(i + 1);
}

function textAt(e: Entry): string {
  const h = u16At(e, at);
  at += 2;
  if (h < Inline) return shared.values[h]!;
  const value = e.slice(at, at + h - Inline);
  at += h - Inline;
  return value;
}

/**
 * What an entry holds on V8, as measured by bench/served-cache.ts: 100,000 CSIs of one row each
 * held 234 bytes of heap a CSI with the cache's own slot (BoundedCache's overhead, counted
 * there), which this counts as about the same: the key and the entry, strings of a byte a
 * character with a header each.
 */
function bytesOf(csi: string, e: Entry): number {
  return 24 + csi.length + e.length;
}

/** `tx`, reporting into `changed` the CSI of every mapping it inserts or whose state it sets. */
function watched(tx: StoreTx, changed: Set<string>): StoreTx {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      if (prop === 'insertMapping') {
        return (row: StoredMapping) => {
          changed.add(row.csi);
          return target.insertMapping(row);
        };
      }
      if (prop === 'setState') {
        return async (...args: Parameters<StoreTx['setState']>) => {
          for (const id of args[0]) {
            const m = await target.mapping(id);
            if (m !== undefined) changed.add(m.csi);
          }
          return target.setState(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
