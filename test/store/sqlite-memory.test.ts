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

  it('defaults to no map and a 32 MiB page cache (issue 16: RSS bounded, mapped pages count in it)', async () => {
    const store = new SqliteStore({ path: ':temp:' });
    expect(pragmas(store)).toEqual({ mmap: 0, cache: -32_768 });
    await store.close();
  });

  it('takes the sizes given', async () => {
    const store = new SqliteStore({ path: ':temp:', mmapBytes: 2 ** 28, cacheBytes: 8 * 2 ** 20 });
    expect(pragmas(store)).toEqual({ mmap: 2 ** 28, cache: -8192 });
    await store.close();
  });
});
