import type { Store } from './store.js';

/** The Store methods timed: the write transaction and every read (close and the backend name are not). */
const timed = new Set<string>([
  'write',
  'activeMappings',
  'servedMappings',
  'mapping',
  'stats',
  'outboxDepth',
  'oprfEpochs',
  'privateBucket',
  'privateIndexStats',
  'logHead',
  'logLeaves',
  'logLeavesAt',
  'logLeafIndex',
  'logSubtrees',
  'latestCheckpoint',
  'latestCosignedCheckpoint',
  'checkpointAt',
  'witnessedLogs',
  'logForks',
]);

/**
 * A Store that times each call of `store` (issue 6 §5: store timings). A Proxy rather than a class
 * that lists every method: what a backend has beyond the interface (PostgreSQL's schemaVersion,
 * lock helpers) passes through unchanged, and a method added to the interface later is still
 * forwarded (only untimed until it is added above).
 */
export function timedStore(
  store: Store,
  time: <T>(operation: string, run: () => Promise<T>) => Promise<T>,
): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (!timed.has(prop)) return fn.bind(target);
      return (...args: unknown[]) => time(prop, () => fn.apply(target, args) as Promise<unknown>);
    },
  });
}
