import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { checkConfig, loadedConfig } from '../../src/server/config.js';
import { openStore } from '../../src/server/context.js';
import type { Store } from '../../src/store/store.js';

/** The read connection's memory is sized from config: store.mmapBytes and store.cacheBytes. */
describe('SQLite read connection memory (store.mmapBytes, store.cacheBytes)', () => {
  /** The store a node opens from this store section. */
  const opened = (store: Record<string, unknown>) =>
    openStore(
      loadedConfig(
        checkConfig({
          dp: { id: 'dp1', keyFile: 'dp1.jwk' },
          registry: { location: 'registry.json', pinnedKey: 'A'.repeat(43) },
          listen: { host: '127.0.0.1', port: 0 },
          store: { backend: 'sqlite', path: ':temp:', ...store },
        }),
        '/tmp',
      ),
    );
  const pragmas = (store: Store) => {
    const reader = (store as unknown as { reader: Database.Database }).reader;
    return {
      mmap: reader.pragma('mmap_size', { simple: true }),
      cache: reader.pragma('cache_size', { simple: true }),
    };
  };

  it('defaults to no map and an 8 MiB page cache (issue 16: RSS bounded, mapped pages count in it)', async () => {
    const store = await opened({});
    expect(pragmas(store)).toEqual({ mmap: 0, cache: -8192 });
    await store.close();
  });

  it('takes the sizes given', async () => {
    const store = await opened({ mmapBytes: 2 ** 28, cacheBytes: 32 * 2 ** 20 });
    expect(pragmas(store)).toEqual({ mmap: 2 ** 28, cache: -32_768 });
    await store.close();
  });
});
