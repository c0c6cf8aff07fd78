import { MimiError } from '../../protocol/errors.js';
import { conflictOf, isRace, ResidencyViolation } from '../errors.js';
import type { Store, StoreTx } from '../store.js';
import { type ReadMethod, type ReadRoute, readRoutes } from './read-routes.js';
import { type Plan, type RegionStores, RoutedWrite } from './routed-write.js';
import { RegionRouter, type ResidencyRules } from './rules.js';

export interface ResidencyStoreOptions {
  rules: ResidencyRules;
  /** The node's main store: the default region's records and every DP-wide row. */
  home: Store;
  /** The store of each other region, by region id (each its own database, file or schema). */
  regions: Readonly<Record<string, Store>>;
}

/**
 * Routed writes that lose a race, or must open their stores in another order, run again; a
 * write runs at most this many times more than it has stores to open.
 */
const extraAttempts = 6;

type Method = (...a: unknown[]) => Promise<unknown>;

/**
 * Data residency (R27): a Store over one store per region. Each CSI's records live only in the
 * store of its region (RegionRouter): mappings, holder keys, challenges, CSIP events, request
 * replay ids, outbox rows (their bodies carry the CSI's records or ids of its mappings) and
 * private-index entries (sealed copies of its mappings). DP-wide rows live in the home store (the
 * node's main store, which is also the default region's): OPRF epochs and the transparency log
 * with its checkpoints, witness state and forks (leaves hold a pseudonym and a commitment, no CSI).
 * Reads go to the stores of the CSIs asked, or to every store and are merged; nothing read from
 * one region is written to another or kept in memory.
 *
 * A write is routed operation by operation. Each store it touches gets a transaction of its own,
 * opened at the first operation that needs it and held open until the write ends:
 * - Operations naming a CSI go to its region's store; that store becomes the write's region.
 *   Operations naming no CSI but belonging to one (replay ids, outbox rows, private entries, a
 *   state change or lookup by mapping or challenge id) go to the write's region, or the home
 *   store (replay ids, outbox rows, private entries) when it has none; outbox items carry their
 *   store in their id. A lookup by id before the region is known is answered "not found" and,
 *   once the region is known, the write runs again with it; a write that never learns it runs
 *   again with every store open (lookups then ask each, and the store where the row is found
 *   becomes the write's region).
 * - Scans (due contests, served or expiring CSIs, due outbox items, dropping an epoch) open every
 *   store and merge the answers.
 * - A write may read several regions, and write private-index entries in several (the index
 *   build and expiry sweep), but may change the records of one region only: a second region is
 *   refused with `internal` (no DP operation does it; two commits could not keep both atomic).
 *
 * Deadlock freedom. Stores are ordered (regions in the order of the rules, the home store last)
 * and a write opens them in that order only: when it needs a store below one it holds (the DP
 * reads the log head after the CSI's rows, but a write may start with a home-store operation),
 * it rolls back and runs again with that store opened first. It commits the other way round,
 * home store first, then regions from the last to the first. So a write only ever waits for a
 * store above the ones it holds undecided, whether to open it or for its commit; with SQLite's
 * group commit (a write waits for every write of its group) as with PostgreSQL's locks (two
 * databases cannot see each other's deadlocks) no cycle of waits can form.
 *
 * Atomicity without two-phase commit. Each store's part is atomic; the home store commits
 * first. A crash or failure between the two commits of an accepted mapping leaves a log leaf
 * whose record never landed and was never acknowledged (the leaf's index is used, so no index is
 * ever reused or missing under an acknowledged mapping: R3). A private-index build batch writes
 * its entries and its cursor in two writes for the same reason (PrivateIndex.buildToEnd).
 *
 * Like PostgresStore.write, a routed write may run `fn` more than once (a reorder above, or a
 * PostgreSQL race); `fn` acts only through `tx`.
 */
// The reads are built from readRoutes in the constructor, one route each; this declares them.
export interface ResidencyStore extends Pick<Store, ReadMethod> {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above declares the reads built in the constructor
export class ResidencyStore implements Store, RegionStores {
  readonly backend: string;
  readonly router: RegionRouter;
  readonly home: Store;
  /** Regions' stores in lock order; the home store is the last. */
  private readonly stores: Store[];
  private readonly indexOf = new Map<string, number>();
  private readonly regionIds: string[];

  constructor(opts: ResidencyStoreOptions) {
    this.router = new RegionRouter(opts.rules);
    this.home = opts.home;
    this.backend = `residency:${opts.home.backend}`;
    this.stores = [];
    this.regionIds = [];
    for (const r of opts.rules.regions) {
      if (r.id === opts.rules.default) continue;
      const store = opts.regions[r.id];
      if (store === undefined)
        throw new MimiError('config-invalid', `residency: region ${r.id} has no store`);
      if (this.stores.includes(store) || store === opts.home) {
        throw new MimiError('config-invalid', `residency: region ${r.id} shares a store with another region`);
      }
      this.indexOf.set(r.id, this.stores.length);
      this.regionIds.push(r.id);
      this.stores.push(store);
    }
    this.indexOf.set(opts.rules.default, this.stores.length);
    this.regionIds.push(opts.rules.default);
    this.stores.push(opts.home);
    Object.assign(this, this.buildReads());
  }

  /**
   * Opens the home store and every other region's store from their settings, and routes over
   * them. `where` names a store's database (file path, or URL and schema): two regions, or a
   * region and the home store, on one database are refused with config-invalid. A failure
   * closes whatever was opened.
   */
  static async open<S>(opts: {
    rules: ResidencyRules & { regions: readonly { id: string; store?: S }[] };
    home: S;
    open: (settings: S) => Promise<Store>;
    where: (settings: S) => string | undefined;
  }): Promise<ResidencyStore> {
    const seen = new Map<string, string>();
    const claim = (settings: S, setting: string) => {
      const where = opts.where(settings);
      if (where === undefined) return;
      const other = seen.get(where);
      if (other !== undefined) {
        throw new MimiError(
          'config-invalid',
          `${setting}: the same database as ${other}; each region needs its own`,
        );
      }
      seen.set(where, setting);
    };
    claim(opts.home, 'store');
    opts.rules.regions.forEach((r, i) => {
      if (r.store !== undefined) claim(r.store as S, `residency.regions[${i}].store`);
    });
    const opened: Store[] = [];
    try {
      const home = await opts.open(opts.home);
      opened.push(home);
      const regions: Record<string, Store> = {};
      for (const r of opts.rules.regions) {
        if (r.store === undefined) continue;
        regions[r.id] = await opts.open(r.store as S);
        opened.push(regions[r.id]!);
      }
      return new ResidencyStore({ rules: opts.rules, home, regions });
    } catch (err) {
      await Promise.allSettled(opened.map((s) => s.close()));
      throw err;
    }
  }

  /** The region holding `csi`'s records. */
  regionOf(csi: string): string {
    return this.router.regionOf(csi);
  }

  /** The store of a region (the home store for the default region). */
  storeOfRegion(id: string): Store | undefined {
    const i = this.indexOf.get(id);
    return i === undefined ? undefined : this.stores[i];
  }

  /** @internal index of the store holding `csi`'s records. */
  storeIndex(csi: string): number {
    return this.indexOf.get(this.router.regionOf(csi))!;
  }

  /** @internal */
  storeAt(i: number): Store {
    return this.stores[i]!;
  }

  get storeCount(): number {
    return this.stores.length;
  }

  get homeIndex(): number {
    return this.stores.length - 1;
  }

  async write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    let plan: Plan = { want: new Set(), region: undefined };
    for (let attempt = 1; ; attempt++) {
      const a = new RoutedWrite(this, plan);
      let value: T | undefined;
      let failure: unknown;
      let failed = false;
      try {
        await a.openWanted();
        value = await fn(a.tx);
      } catch (err) {
        failed = true;
        failure = err;
      }
      const next = a.restartPlan();
      if (next !== undefined || failed) {
        await a.end(false);
        const again = next !== undefined || isRace(failure);
        if (!again) throw conflictOf(failure);
        if (attempt >= this.stores.length + extraAttempts) {
          throw next === undefined
            ? conflictOf(failure)
            : new ResidencyViolation('a write could not be routed to its region stores (R27)');
        }
        if (next !== undefined) plan = next;
        else await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
        continue;
      }
      await a.end(true);
      return value as T;
    }
  }

  /** Builds every read from its route (read-routes.ts). */
  private buildReads(): Pick<Store, ReadMethod> {
    const reads: Partial<Record<ReadMethod, Method>> = {};
    for (const m of Object.keys(readRoutes) as ReadMethod[]) {
      const route = readRoutes[m] as ReadRoute<ReadMethod>;
      const call = (s: Store, a: unknown[]) => (s[m] as unknown as Method).apply(s, a);
      if (route.to === 'home') reads[m] = (...a) => call(this.home, a);
      else if (route.to === 'csis') {
        reads[m] = (csis, ...rest) =>
          this.byRegion(
            csis as readonly string[],
            (s, group) => call(s, [group, ...rest]) as Promise<Map<string, unknown[]>>,
          );
      } else {
        const merge = route.merge as (answers: unknown[], ...a: unknown[]) => unknown;
        reads[m] = async (...a) => merge(await Promise.all(this.stores.map((s) => call(s, a))), ...a);
      }
    }
    return reads as unknown as Pick<Store, ReadMethod>;
  }

  /** Asks each store for its own CSIs only; every CSI asked is a key of the answer, in order. */
  private async byRegion<R>(
    csis: readonly string[],
    read: (s: Store, group: string[]) => Promise<Map<string, R[]>>,
  ): Promise<Map<string, R[]>> {
    const groups = new Map<number, string[]>();
    for (const csi of csis) {
      const i = this.storeIndex(csi);
      const g = groups.get(i);
      if (g === undefined) groups.set(i, [csi]);
      else g.push(csi);
    }
    const answers = await Promise.all([...groups].map(([i, group]) => read(this.stores[i]!, group)));
    const found = new Map<string, R[]>();
    for (const a of answers) for (const [csi, rows] of a) found.set(csi, rows);
    const out = new Map<string, R[]>();
    for (const csi of csis) out.set(csi, found.get(csi) ?? []);
    return out;
  }

  /** The oldest schema among the stores (they migrate on open, so normally all the same). */
  async schemaVersion(): Promise<number> {
    const versions = await Promise.all(
      this.stores.map((s) =>
        (s as unknown as { schemaVersion?(): number | Promise<number> }).schemaVersion?.(),
      ),
    );
    return Math.min(...versions.filter((v): v is number => v !== undefined));
  }

  async close(): Promise<void> {
    const closed = await Promise.allSettled(this.stores.map((s) => s.close()));
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}
