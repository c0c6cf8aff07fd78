import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** The read connection's memory is sized from config: store.mmapBytes and store.cacheBytes. */
describe('SQLite read connection memory (store.mmapBytes, store.cacheBytes)', () => {
  const pragmas = (store: SqliteStore) => {
    const reader = (store as unknown as { reader: Database.Database }).reader;
    return {
      mmap: reader.pragma('mmap_size', { simple: true }),
      cache: reader.pragma('cache_size', { simple: true }),
    };
  };

  it('defaults to a 1 GiB map and a 64 MiB page cache', async () => {
    const store = new SqliteStore({ path: ':temp:' });
    expect(pragmas(store)).toEqual({ mmap: 2 ** 30, cache: -65_536 });
    await store.close();
  });

  it('takes the sizes given, a map of 0 turning mapping off', async () => {
    const store = new SqliteStore({ path: ':temp:', mmapBytes: 0, cacheBytes: 8 * 2 ** 20 });
    expect(pragmas(store)).toEqual({ mmap: 0, cache: -8192 });
    await store.close();
  });
});
