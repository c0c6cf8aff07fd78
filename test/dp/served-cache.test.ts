import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServedCache } from '../../src/dp/served-cache.js';
import { PossessionLevel } from '../../src/protocol/records.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { ServedStoredMapping, Store, StoredMapping, StoreTx } from '../../src/store/store.js';
import { storedMapping } from '../support/mapping-rows.js';
import { tempSqliteStore } from '../support/stores.js';

/**
 * Issue 16, R14/R15: served rows answered from memory are never older than what was acknowledged.
 * The Store contract through the cache is in test/store/conformance.test.ts; here, what only a
 * cache can get wrong.
 */

const csi = 'tel:+14155550100';
/** What compact lookups read (R15): the rows without their signed records. */
const bare = { json: false };
const mapping = (over: Partial<StoredMapping> = {}) => storedMapping({ csi, expiresAt: 10_000, ...over });

describe('served-rows cache', () => {
  let raw: SqliteStore;
  let reads: number;
  /** Resolves the next store read's answer only when released (a slow, networked store). */
  let gate: Promise<void> | undefined;
  let inner: Store;

  beforeEach(() => {
    raw = tempSqliteStore();
    reads = 0;
    gate = undefined;
    inner = new Proxy(raw, {
      get(target, prop, receiver) {
        if (prop === 'servedMappings') {
          return async (...args: Parameters<Store['servedMappings']>) => {
            reads++;
            const answer = await target.servedMappings(...args);
            if (gate !== undefined) await gate;
            return answer;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  });
  afterEach(() => raw.close());

  it('answers a CSI read before from memory, with nothing served as well', async () => {
    const store = new ServedCache(1 << 20).wrap(inner);
    const other = 'tel:+14155550199';
    await store.write((tx) => tx.insertMapping(mapping()));
    const first = await store.servedMappings([csi, other], 500, bare);
    expect(reads).toBe(1);
    expect(await store.servedMappings([csi, other], 500, bare)).toEqual(first);
    expect(await store.servedMappings([other], 500, bare)).toEqual(new Map([[other, []]]));
    expect(reads).toBe(1);
  });

  it('an accepted mapping, a state change and an expiry are seen at the next read', async () => {
    const cache = new ServedCache(1 << 20);
    const store = cache.wrap(inner);
    const a = mapping({ expiresAt: 1_000 });
    expect((await store.servedMappings([csi], 500, bare)).get(csi)).toEqual([]);
    await store.write((tx) => tx.insertMapping(a));
    expect((await store.servedMappings([csi], 500, bare)).get(csi)!.map((r) => r.id)).toEqual([a.id]);
    const b = mapping();
    await store.write(async (tx) => {
      await tx.insertMapping(b);
      await tx.setState([a.id], 'superseded', 600);
    });
    expect((await store.servedMappings([csi], 600, bare)).get(csi)!.map((r) => r.id)).toEqual([b.id]);
    // Removed by a state change alone (an invalidation, a CSIP event): setState names ids only.
    await store.write((tx) => tx.setState([b.id], 'invalidated', 700));
    expect((await store.servedMappings([csi], 700, bare)).get(csi)).toEqual([]);
    const c = mapping({ expiresAt: 1_000 });
    await store.write((tx) => tx.insertMapping(c));
    expect((await store.servedMappings([csi], 999, bare)).get(csi)!.map((r) => r.id)).toEqual([c.id]);
    // The store serves a row while expires_at > now: so does the cache, without a read.
    const before = reads;
    expect((await store.servedMappings([csi], 1_000, bare)).get(csi)).toEqual([]);
    expect(reads).toBe(before);
    // A clock set back does not bring back what had expired when the entry was read.
    expect((await store.servedMappings([csi], 998, bare)).get(csi)!.map((r) => r.id)).toEqual([c.id]);
  });

  it('a write that rolls back changes nothing, and the next read is still right', async () => {
    const store = new ServedCache(1 << 20).wrap(inner);
    const a = mapping();
    await store.write((tx) => tx.insertMapping(a));
    await store.servedMappings([csi], 500, bare);
    await expect(
      store.write(async (tx) => {
        await tx.setState([a.id], 'invalidated', 600);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow();
    expect((await store.servedMappings([csi], 600, bare)).get(csi)!.map((r) => r.id)).toEqual([a.id]);
  });

  it('a read that ran while a write settled keeps nothing: the next read sees the write', async () => {
    const store = new ServedCache(1 << 20).wrap(inner);
    const a = mapping();
    await store.write((tx) => tx.insertMapping(a));
    let release!: () => void;
    gate = new Promise((r) => {
      release = r;
    });
    // The store answered (a served) but the answer is still on its way back.
    const slow = store.servedMappings([csi], 500, bare);
    await new Promise((r) => setImmediate(r));
    gate = undefined;
    await store.write((tx) => tx.setState([a.id], 'invalidated', 600));
    release();
    expect((await slow).get(csi)!.map((r) => r.id)).toEqual([a.id]);
    expect((await store.servedMappings([csi], 600, bare)).get(csi)).toEqual([]);
  });

  it('reads with the signed record are not kept: each goes to the store', async () => {
    const store = new ServedCache(1 << 20).wrap(inner);
    const a = mapping();
    await store.write((tx) => tx.insertMapping(a));
    expect((await store.servedMappings([csi], 500)).get(csi)![0]!.json).toBe(a.json);
    expect((await store.servedMappings([csi], 500)).get(csi)![0]!.json).toBe(a.json);
    expect(reads).toBe(2);
    expect((await store.servedMappings([csi], 500, bare)).get(csi)![0]!.json).toBe('');
    expect((await store.servedMappings([csi], 500, bare)).get(csi)![0]!.json).toBe('');
    expect(reads).toBe(3);
  });

  it('a compact read without keys leaves out the id and holder key only, and keeps them for the next read', async () => {
    const store = new ServedCache(1 << 20).wrap(inner);
    const a = mapping();
    await store.write((tx) => tx.insertMapping(a));
    const full = (await store.servedMappings([csi], 500, bare)).get(csi)!;
    const keyless = (await store.servedMappings([csi], 500, { json: false, keys: false })).get(csi)!;
    expect(reads).toBe(1);
    expect(keyless).toEqual(full.map((r) => ({ ...r, id: '', holderKey: '' })));
    expect((await store.servedMappings([csi], 500, bare)).get(csi)).toEqual(full);
    expect(full[0]!.id).toBe(a.id);
    expect(full[0]!.holderKey).toBe(a.holderKey);
    // A first read without keys still fills the cache with them.
    const fresh = new ServedCache(1 << 20).wrap(inner);
    await fresh.servedMappings([csi], 500, { json: false, keys: false });
    expect((await fresh.servedMappings([csi], 500, bare)).get(csi)).toEqual(full);
    expect(reads).toBe(2);
  });

  it('warm fills it from the store at start, and stops when it is full', async () => {
    const csis = Array.from({ length: 50 }, (_, i) => `tel:+1415557${String(i).padStart(4, '0')}`);
    await raw.write(async (tx) => {
      for (const c of csis) await tx.insertMapping(mapping({ csi: c }));
    });
    const cache = new ServedCache(1 << 20);
    const store = cache.wrap(inner);
    expect(await cache.warm(inner, 500, 7)).toBe(50);
    const before = reads;
    const all = await store.servedMappings(csis, 500, bare);
    expect([...all.values()].every((rows) => rows.length === 1)).toBe(true);
    expect(reads).toBe(before);
    const small = new ServedCache(2_000);
    const loaded = await small.warm(inner, 500, 5);
    expect(loaded).toBeGreaterThan(0);
    expect(loaded).toBeLessThan(50);
    expect(small.bytes).toBeLessThanOrEqual(2_000);
  });

  it('stays within its bytes', async () => {
    const cache = new ServedCache(20_000);
    const store = cache.wrap(inner);
    const csis = Array.from({ length: 200 }, (_, i) => `tel:+1415556${String(i).padStart(4, '0')}`);
    await store.write(async (tx) => {
      for (const c of csis) await tx.insertMapping(mapping({ csi: c, json: 'x'.repeat(200) }));
    });
    for (const c of csis) await store.servedMappings([c], 500, bare);
    expect(cache.bytes).toBeGreaterThan(0);
    expect(cache.bytes).toBeLessThanOrEqual(20_000);
  });
});

describe('served-rows cache entries', () => {
  /** A store that serves whatever rows it is given, for values SQLite would not produce. */
  const servingOnly = (rows: ServedStoredMapping[]) => {
    let reads = 0;
    const store = {
      servedMappings: async (csis: readonly string[]) => {
        reads++;
        return new Map(csis.map((c) => [c, rows]));
      },
      write: async <T>(fn: (tx: StoreTx) => Promise<T>) => fn({} as StoreTx),
    } as unknown as Store;
    return { store, reads: () => reads };
  };
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom('msp1', 'Default', 'otp'),
  );
  const number = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.constantFrom(0, -0, 2 ** 32, 2 ** 32 - 1),
  );
  const row = fc.record({
    id: text,
    json: fc.constant(''),
    holderKey: text,
    msp: fc.option(text),
    tag: text,
    priority: number,
    acceptedAt: number,
    expiresAt: fc.oneof(number, fc.constant(Number.POSITIVE_INFINITY)),
    level: fc.constantFrom(...Object.values(PossessionLevel)),
    optOut: fc.boolean(),
  });

  it('give back every row as the store read it, leaving out what has expired since', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 4 }), number, async (rows, now) => {
        const { store, reads } = servingOnly(rows);
        const cached = new ServedCache(1 << 20).wrap(store);
        expect((await cached.servedMappings([csi], now, bare)).get(csi)).toEqual(rows);
        const later = now + 1;
        const again = (await cached.servedMappings([csi], later, bare)).get(csi);
        expect(reads()).toBe(1);
        expect(again).toEqual(rows.filter((r) => r.expiresAt > later));
      }),
    );
  });

  it('a row with a text too long to hold is served, not kept', async () => {
    const rows = [{ ...mapping(), json: '', id: 'i'.repeat(40_000) }];
    const { store, reads } = servingOnly(rows);
    const cached = new ServedCache(1 << 20).wrap(store);
    expect((await cached.servedMappings([csi], 500, bare)).get(csi)![0]!.id).toBe(rows[0]!.id);
    expect((await cached.servedMappings([csi], 500, bare)).get(csi)![0]!.id).toBe(rows[0]!.id);
    expect(reads()).toBe(2);
  });
});
