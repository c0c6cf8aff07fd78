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
        const rows = read.get(csi) ?? [];
        const bytes = bytesOf(csi, rows);
        // Full: what is in stays (warming evicts nothing).
        if (!this.entries.fits(bytes)) return loaded;
        this.entries.set(csi, entryOf(rows, now), bytes);
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
      if (e === undefined || now < e.readAt) missing.push(csi);
      else out.set(csi, e.until > now ? e.rows : e.rows.filter((r) => r.expiresAt > now));
    }
    this.onRead?.(csis.length - missing.length, missing.length);
    if (missing.length === 0) return out;
    const epoch = this.epoch;
    const read = await store.servedMappings(missing, now, opts);
    const keep = epoch === this.epoch;
    for (const csi of missing) {
      const rows = read.get(csi) ?? [];
      out.set(csi, rows);
      if (keep) this.entries.set(csi, entryOf(rows, now), bytesOf(csi, rows));
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

interface Entry {
  rows: ServedStoredMapping[];
  readAt: number;
  /** The earliest expiry among the rows: before it, no row needs the check. */
  until: number;
}

/**
 * The entry kept for rows just read. Kept small, since the cache holds a whole directory's CSIs:
 * the rows go into an array of their own length (the store's, grown by push, has room for 17),
 * and the few values many rows share (MSP, tag, level) are one string each (interned), not one
 * per row as the database returns them.
 */
function entryOf(rows: readonly ServedStoredMapping[], now: number): Entry {
  let until = Number.POSITIVE_INFINITY;
  const kept = new Array<ServedStoredMapping>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    until = Math.min(until, r.expiresAt);
    kept[i] = {
      ...r,
      msp: r.msp === null ? null : interned(r.msp),
      tag: interned(r.tag),
      level: interned(r.level),
    };
  }
  return { rows: kept, readAt: now, until };
}

/** Values seen in many rows, one copy each; bounded, so that distinct values are simply kept as read. */
const pool = new Map<string, string>();
const poolLimit = 4096;

function interned<T extends string>(value: T): T {
  const seen = pool.get(value);
  if (seen !== undefined) return seen as T;
  if (pool.size < poolLimit) pool.set(value, value);
  return value;
}

/**
 * What an entry holds on V8, as measured by bench/served-cache.ts: 100,000 CSIs of one row each
 * held 449 bytes of heap a CSI with the cache's own entry (BoundedCache's overhead, counted
 * there), which this counts as about 470: the entry and its array, the key, and per row its
 * object with the strings that are its own (id, holder key; MSP and tag are counted though
 * interned).
 */
function bytesOf(csi: string, rows: readonly ServedStoredMapping[]): number {
  let n = 110 + csi.length;
  for (const r of rows) n += 150 + r.id.length + r.holderKey.length + r.tag.length + (r.msp?.length ?? 0);
  return n;
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
