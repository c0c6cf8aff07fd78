import type {
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
} from '../store/store.js';
import { MaxStr, putStr, putU32, ServedArena, strAt, strEnd, u32At } from './served-arena.js';

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
  private readonly entries: ServedArena;
  /** Bumped by every settled write that changed mappings: a read spanning one keeps nothing. */
  private epoch = 0;

  /** `onRead` is told, per read, how many CSIs were answered from memory and how many were not. */
  constructor(
    maxBytes: number,
    private readonly onRead?: (hits: number, misses: number) => void,
  ) {
    this.entries = new ServedArena(maxBytes);
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
        const n = entryOf(read.get(csi) ?? [], now);
        if (n < 0) continue;
        // Full: what is in stays (warming evicts nothing).
        if (!this.entries.fits(csi, n)) return loaded;
        this.entries.set(csi, scratch.subarray(0, n));
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
    const { entries } = this;
    const keys = opts.keys !== false;
    if (found.start.length < csis.length) {
      found.start = new Int32Array(2 * csis.length);
      found.end = new Int32Array(2 * csis.length);
    }
    const { start, end } = found;
    entries.findMany(csis, start, end);
    for (let k = 0; k < csis.length; k++) {
      const csi = csis[k]!;
      const from = start[k]!;
      // A clock set back cannot bring back rows that had expired when the entry was read.
      if (from < 0 || now < readAtOf(entries.buf, from)) missing.push(csi);
      else out.set(csi, rowsOf(entries.buf, from, end[k]!, now, keys));
    }
    this.onRead?.(csis.length - missing.length, missing.length);
    if (missing.length === 0) return out;
    const epoch = this.epoch;
    // What is kept has every field, whatever this read leaves out.
    const read = await store.servedMappings(missing, now, { json: false });
    const keep = epoch === this.epoch;
    for (const csi of missing) {
      const rows = read.get(csi) ?? [];
      out.set(csi, rows);
      const n = keep ? entryOf(rows, now) : -1;
      if (n >= 0) this.entries.set(csi, scratch.subarray(0, n));
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
 * One CSI's served rows as the cache keeps them, the value of its record in the arena:
 *
 *   entry  := readAt:number row*         (the rows to their end: no count)
 *   row    := flags:u8 priority:number acceptedAt:number expiresAt:number [msp:text] tag:text
 *             level:text id:str holderKey:str
 *   number := 0 u32 (big-endian) | 1 the 8 bytes of its float64 (anything else)
 *   text   := 2 u16: the shared value of that number (see `shared`) | str
 *   str    := as in served-arena.ts: a byte or two a character, so any string round-trips
 *
 * Every number is stored exactly, so a row read back equals the row read from the store; readAt
 * is when it was read, for a clock set back. What a compact answer decodes comes first.
 */
const OptOut = 1;
const NoMsp = 2;
const Shared = 2;

/** Encodes the entry for rows read at `now` into `scratch`; its length, or -1 for one it cannot hold. */
function entryOf(rows: readonly ServedStoredMapping[], now: number): number {
  // At most: the flags, three numbers of 9 bytes, five texts of a 3-byte head and 2 bytes a character.
  let need = 9;
  for (const r of rows) {
    need +=
      1 +
      3 * 9 +
      5 * 3 +
      2 * (r.id.length + r.holderKey.length + (r.msp?.length ?? 0) + r.tag.length + r.level.length);
  }
  if (scratch.byteLength < need) scratch = Buffer.alloc(Math.max(need, 2 * scratch.byteLength));
  const buf = scratch;
  let i = putNumber(buf, 0, now);
  for (const r of rows) {
    if ([r.id, r.holderKey, r.msp ?? '', r.tag, r.level].some((t) => t.length > MaxStr)) return -1;
    buf[i++] = (r.optOut ? OptOut : 0) | (r.msp === null ? NoMsp : 0);
    i = putNumber(buf, i, r.priority);
    i = putNumber(buf, i, r.acceptedAt);
    i = putNumber(buf, i, r.expiresAt);
    if (r.msp !== null) i = putText(buf, i, r.msp);
    i = putText(buf, i, r.tag);
    i = putText(buf, i, r.level);
    i = putStr(buf, i, r.id);
    i = putStr(buf, i, r.holderKey);
  }
  return i;
}

/** Where each CSI's entry starts and ends in the arena, for one read (reads do not interleave: no await between). */
const found = { start: new Int32Array(128), end: new Int32Array(128) };

/** Where entries are encoded before they are copied into the arena. */
let scratch = Buffer.alloc(4096);

/** When the entry at `from` was read. */
function readAtOf(buf: Buffer, from: number): number {
  at = from;
  return numberAt(buf);
}

/**
 * The rows of the entry in [from, end) that are served at `now` (a row is served while
 * expiresAt > now); without `keys`, their ids and holder keys are left ''.
 */
function rowsOf(buf: Buffer, from: number, end: number, now: number, keys: boolean): ServedStoredMapping[] {
  const rows: ServedStoredMapping[] = [];
  at = from;
  numberAt(buf);
  while (at < end) {
    const flags = buf[at++]!;
    const priority = numberAt(buf);
    const acceptedAt = numberAt(buf);
    const expiresAt = numberAt(buf);
    const msp = (flags & NoMsp) !== 0 ? null : textAt(buf);
    const tag = textAt(buf);
    const level = textAt(buf) as ServedStoredMapping['level'];
    const idAt = at;
    const holderKeyAt = strEnd(buf, idAt);
    at = strEnd(buf, holderKeyAt);
    if (expiresAt <= now) continue;
    rows.push({
      id: keys ? strAt(buf, idAt) : '',
      json: '',
      holderKey: keys ? strAt(buf, holderKeyAt) : '',
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

function putText(buf: Buffer, i: number, value: string): number {
  let n = shared.numbers.get(value);
  if (n === undefined && shared.values.length < sharedLimit) {
    n = shared.values.push(value) - 1;
    shared.numbers.set(value, n);
  }
  if (n === undefined) return putStr(buf, i, value);
  buf[i] = Shared;
  buf[i + 1] = n >> 8;
  buf[i + 2] = n & 0xff;
  return i + 3;
}

function textAt(buf: Buffer): string {
  if (buf[at] === Shared) {
    const value = shared.values[(buf[at + 1]! << 8) | buf[at + 2]!]!;
    at += 3;
    return value;
  }
  const value = strAt(buf, at);
  at = strEnd(buf, at);
  return value;
}

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);

function putNumber(buf: Buffer, i: number, x: number): number {
  if (Number.isInteger(x) && x >= 0 && x <= 0xffffffff && !Object.is(x, -0)) {
    buf[i] = 0;
    putU32(buf, i + 1, x);
    return i + 5;
  }
  float64[0] = x;
  buf[i] = 1;
  buf.set(float64Bytes, i + 1);
  return i + 9;
}

/** Where the entry being read is read next (an entry is read in one go, never two at once). */
let at = 0;

function numberAt(buf: Buffer): number {
  if (buf[at] === 0) {
    const x = u32At(buf, at + 1);
    at += 5;
    return x;
  }
  return floatAt(buf);
}

/** Apart, so that numberAt's common case stays small enough to be inlined. */
function floatAt(buf: Buffer): number {
  for (let i = 0; i < 8; i++) float64Bytes[i] = buf[at + 1 + i]!;
  at += 9;
  return float64[0]!;
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
