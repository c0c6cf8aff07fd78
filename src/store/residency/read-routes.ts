import { mergeFrames } from '../../protocol/private.js';
import type { Store } from '../store.js';

/**
 * How the residency store (R27) answers each read of committed state, declared once: from the
 * stores of the CSIs asked (`csis`), from the home store (DP-wide state: OPRF epochs, the log),
 * or from every store with the answers merged. A read added to Store does not compile until it
 * has a route here.
 */

export type ReadMethod = Exclude<keyof Store, 'backend' | 'write' | 'close'>;
type Args<K extends ReadMethod> = Parameters<Store[K]>;
type Ret<K extends ReadMethod> = Awaited<ReturnType<Store[K]>>;

export type ReadRoute<K extends ReadMethod> =
  /** The first argument is a list of CSIs: each store is asked for its own, the answers keyed by CSI. */
  | { readonly to: 'csis' }
  | { readonly to: 'home' }
  | { readonly to: 'every'; readonly merge: (answers: Ret<K>[], ...a: Args<K>) => Ret<K> };

const home = { to: 'home' } as const;

export const readRoutes = {
  activeMappings: { to: 'csis' },
  servedMappings: { to: 'csis' },
  // A mapping id names no region: every store is asked.
  mapping: { to: 'every', merge: (found) => found.find((m) => m !== undefined) },
  stats: {
    to: 'every',
    merge: (all) => ({
      mappings: all.reduce((n, s) => n + s.mappings, 0),
      active: all.reduce((n, s) => n + s.active, 0),
    }),
  },
  outboxDepth: {
    to: 'every',
    merge: (depths) => {
      const out: Record<string, number> = {};
      for (const depth of depths) {
        for (const [target, n] of Object.entries(depth)) out[target] = (out[target] ?? 0) + n;
      }
      return out;
    },
  },
  oprfEpochs: home,
  // A bucket holds entries of every region: each store's part, in one run sorted by tag.
  privateBucket: { to: 'every', merge: (parts) => mergeFrames(parts) },
  privateIndexStats: { to: 'every', merge: (all, _epoch, bits) => mergeIndexStats(all, bits) },
  logHead: home,
  logLeaves: home,
  logLeavesAt: home,
  logLeafIndex: home,
  logSubtrees: home,
  latestCheckpoint: home,
  latestCosignedCheckpoint: home,
  checkpointAt: home,
  witnessedLogs: home,
  logForks: home,
} as const satisfies { readonly [K in ReadMethod]: ReadRoute<K> };

/**
 * Counts are summed over the regions. The modal payload length (the length of dummy entries)
 * is the most common of the regions' own modal lengths, weighted by their entry counts: exact
 * when the regions share it, which they do as long as most CSIs have the same number of
 * mappings everywhere; the index itself does not tell more without reading every entry.
 */
function mergeIndexStats(all: Ret<'privateIndexStats'>[], bits: number): Ret<'privateIndexStats'> {
  const counts = new Array<number>(2 ** bits).fill(0);
  const weight = new Map<number, number>();
  for (const s of all) {
    let total = 0;
    s.counts.forEach((n, i) => {
      counts[i] = (counts[i] ?? 0) + n;
      total += n;
    });
    if (total > 0) weight.set(s.modalPayloadLength, (weight.get(s.modalPayloadLength) ?? 0) + total);
  }
  let modalPayloadLength = 0;
  let best = 0;
  for (const [len, w] of [...weight].sort((a, b) => a[0] - b[0])) {
    if (w > best) {
      best = w;
      modalPayloadLength = len;
    }
  }
  return { counts, modalPayloadLength };
}
