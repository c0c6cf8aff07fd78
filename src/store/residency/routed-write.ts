import { type Route, type SpecialRoutedMethod, type TxMethod, txContract, txMethods } from '../contract.js';
import { RegionUnavailable, ResidencyViolation, StoreError } from '../errors.js';
import type { OutboxItem, Store, StoreTx } from '../store.js';

/**
 * One attempt of a routed write (R27; ResidencyStore's class comment says how it is routed and
 * why it cannot deadlock): the transactions it holds, one per store, and what it learned about
 * its region. Its StoreTx is built from the contract's routes (contract.ts), one routing class
 * per method; the two scans whose merging is their own are written here (specialRoutes).
 */

/** The stores a write is routed over, in lock order (the home store last). */
export interface RegionStores {
  storeIndex(csi: string): number;
  storeAt(i: number): Store;
  readonly storeCount: number;
  readonly homeIndex: number;
}

type Method = (...a: unknown[]) => Promise<unknown>;
const call = (tx: StoreTx, m: TxMethod, a: readonly unknown[]) => (tx[m] as unknown as Method)(...a);

/**
 * Thrown into a region transaction to roll it back. Private to this file: it only settles that
 * transaction's `done`, which end() awaits and never rethrows for a rollback, so it never reaches
 * a caller (who sees MimiErrors only).
 */
class RolledBack extends Error {}
const rollback = new RolledBack('rolled back by the residency store');

/** One store's transaction, held open inside its write() until the routed write decides. */
interface OpenTx {
  tx: StoreTx;
  decide(commit: boolean): void;
  /** Settles when the store committed (or rolled back) it. */
  done: Promise<unknown>;
}

/**
 * Opens a transaction on `store` and keeps it open until decide(). Its write() runs the inner
 * function once: if a PostgresStore ever ran it again (a race at COMMIT), the work of the first
 * run is gone, so the second run fails rather than commit an empty transaction.
 */
async function openTx(store: Store): Promise<OpenTx> {
  let give!: (tx: StoreTx) => void;
  const ready = new Promise<StoreTx>((resolve) => {
    give = resolve;
  });
  let decide!: (commit: boolean) => void;
  const decision = new Promise<boolean>((resolve) => {
    decide = resolve;
  });
  let runs = 0;
  const done = store.write(async (tx) => {
    runs += 1;
    if (runs > 1) {
      throw new RegionUnavailable(
        'a region store lost its transaction while committing; repeat the request',
        {
          outcomeUnknown: true,
        },
      );
    }
    give(tx);
    if (!(await decision)) throw rollback;
  });
  // A write refused before it began (store closed, no connection) never hands out its tx.
  const tx = await Promise.race([
    ready,
    done.then(() => {
      throw new StoreError('internal', 'a region store ended a transaction before it began');
    }),
  ]);
  return { tx, decide, done };
}

/** What the next attempt of a routed write opens first, and how it answers lookups by id. */
export interface Plan {
  /** Store indices opened at the start, in ascending order. */
  want: ReadonlySet<number>;
  /** The store of the write's CSIs, when known from an earlier attempt. */
  region: number | undefined;
}

/** Ends an attempt so that the next one starts with `plan`. */
export class Restart {
  constructor(readonly plan: Plan) {}
}

/** One attempt of a routed write: the transactions it holds and what it learned about its region. */
export class RoutedWrite {
  readonly tx: StoreTx;
  private readonly opened = new Map<number, Promise<OpenTx>>();
  /** Highest store index opened (or being opened). */
  private top = -1;
  /** The store of the CSIs of this write: the last one a CSI was routed to. */
  private region: number | undefined;
  /** True once a CSI has been routed in this attempt. */
  private routed = false;
  /** A lookup by id was answered "not found" without asking a store. */
  private blind = false;
  /** The store whose records this write changes (at most one). */
  private recordStore: number | undefined;
  private restart: Restart | undefined;

  constructor(
    private readonly rs: RegionStores,
    private readonly plan: Plan,
  ) {
    this.region = plan.region;
    this.tx = this.makeTx();
  }

  async openWanted(): Promise<void> {
    for (const i of [...this.plan.want].sort((a, b) => a - b)) await this.open(i);
  }

  /** What the next attempt needs, when this one cannot stand. */
  restartPlan(): Plan | undefined {
    if (this.restart !== undefined) return this.restart.plan;
    // Lookups were answered blind and the write never named a CSI: ask every store.
    if (this.blind && this.region === undefined) return this.everyStore();
    return undefined;
  }

  private everyStore(): Plan {
    return { want: new Set(Array.from({ length: this.rs.storeCount }, (_, i) => i)), region: this.region };
  }

  private fail(plan: Plan): never {
    this.restart ??= new Restart(plan);
    throw this.restart;
  }

  private all(): boolean {
    return this.opened.size === this.rs.storeCount;
  }

  private open(i: number): Promise<StoreTx> {
    if (this.restart !== undefined) throw this.restart;
    const have = this.opened.get(i);
    if (have !== undefined) return have.then((o) => o.tx);
    if (i < this.top) {
      // Lock order: run again with this store opened before the higher ones held now.
      this.fail({ want: new Set([...this.opened.keys(), i]), region: this.region });
    }
    this.top = i;
    const opening = openTx(this.rs.storeAt(i));
    this.opened.set(i, opening);
    return opening.then((o) => o.tx);
  }

  private home(): Promise<StoreTx> {
    return this.open(this.rs.homeIndex);
  }

  /** The transaction of `csi`'s region; that region becomes the write's. */
  private at(csi: string): Promise<StoreTx> {
    const i = this.rs.storeIndex(csi);
    if (!this.routed && this.blind && this.region !== i) {
      // A lookup before this was answered without its region: run again knowing it.
      this.fail({ want: new Set([...this.opened.keys(), i]), region: i });
    }
    this.routed = true;
    this.region = i;
    return this.open(i);
  }

  /** The store of the write's region, or home when no CSI was named. */
  private own(): number {
    return this.region ?? this.rs.homeIndex;
  }

  private record(i: number): void {
    if (this.recordStore !== undefined && this.recordStore !== i) {
      throw new ResidencyViolation('a write may change the records of one region only (R27)');
    }
    this.recordStore = i;
  }

  private async recordTx(i: number): Promise<StoreTx> {
    this.record(i);
    return this.open(i);
  }

  /** A lookup by an id that names no region (see the class comment of ResidencyStore). */
  private async lookup<R>(get: (tx: StoreTx) => Promise<R | undefined>): Promise<R | undefined> {
    if (this.region !== undefined) return get(await this.open(this.region));
    if (!this.all()) {
      this.blind = true;
      return undefined;
    }
    for (let i = 0; i < this.rs.storeCount; i++) {
      const found = await get(await this.open(i));
      if (found !== undefined) {
        // Where the record is, is the write's region (a challenge answered, a mapping changed).
        this.region = i;
        return found;
      }
    }
    return undefined;
  }

  /** A change by ids that name no region: the write's region, or wherever each id is found. */
  private async byIds(
    ids: readonly string[],
    has: (tx: StoreTx, id: string) => Promise<boolean>,
    change: (tx: StoreTx, ids: string[]) => Promise<void>,
  ): Promise<void> {
    if (ids.length === 0) return;
    if (this.region !== undefined) return change(await this.recordTx(this.region), [...ids]);
    if (!this.all()) this.fail(this.everyStore());
    for (let i = 0; i < this.rs.storeCount; i++) {
      const tx = await this.open(i);
      const here: string[] = [];
      for (const id of ids) if (await has(tx, id)) here.push(id);
      if (here.length > 0) await change(await this.recordTx(i), here);
    }
  }

  /** Every store's transaction, in order (scans). */
  private async every(): Promise<StoreTx[]> {
    for (let i = 0; i < this.rs.storeCount; i++) {
      if (!this.opened.has(i) && i < this.top) this.fail(this.everyStore());
    }
    const txs: StoreTx[] = [];
    for (let i = 0; i < this.rs.storeCount; i++) txs.push(await this.open(i));
    return txs;
  }

  /**
   * Commits home first, then the regions from the last to the first (see ResidencyStore), or
   * rolls every part back. On a failed commit the parts after it are rolled back (or, for
   * regions after the home store committed, still committed) and the first error is thrown.
   */
  async end(commit: boolean): Promise<void> {
    const parts = await Promise.allSettled([...this.opened].map(async ([i, p]) => [i, await p] as const));
    const held = parts
      .filter((p): p is PromiseFulfilledResult<readonly [number, OpenTx]> => p.status === 'fulfilled')
      .map((p) => p.value)
      .sort((a, b) => b[0] - a[0]);
    const openFailure = parts.find((p): p is PromiseRejectedResult => p.status === 'rejected');
    if (!commit || openFailure !== undefined) {
      for (const [, o] of held) o.decide(false);
      await Promise.allSettled(held.map(([, o]) => o.done));
      if (commit) throw openFailure!.reason;
      return;
    }
    let failure: unknown;
    let homeFailed = false;
    for (const [i, o] of held) {
      if (homeFailed) {
        o.decide(false);
        await o.done.catch(() => undefined);
        continue;
      }
      o.decide(true);
      try {
        await o.done;
      } catch (err) {
        failure ??= err;
        if (i === this.rs.homeIndex) homeFailed = true;
      }
    }
    if (failure !== undefined) throw failure;
  }

  private makeTx(): StoreTx {
    const tx: Partial<Record<TxMethod, Method>> = {};
    const special = this.specialRoutes() as unknown as Record<TxMethod, Method>;
    for (const m of txMethods) {
      const route = txContract[m].route as Route<TxMethod>;
      tx[m] = route.to === 'special' ? special[m] : this.route(m, route);
    }
    return tx as unknown as StoreTx;
  }

  /** A method routed by its class (contract.ts Route). */
  private route(m: TxMethod, route: Exclude<Route<TxMethod>, { to: 'special' }>): Method {
    switch (route.to) {
      case 'csi': {
        const csiOf = route.csi as (...a: unknown[]) => string;
        return async (...a) => {
          const tx = await this.at(csiOf(...a));
          return call(route.record === true ? await this.recordTx(this.region!) : tx, m, a);
        };
      }
      case 'home':
        return async (...a) => call(await this.home(), m, a);
      case 'own':
        return async (...a) =>
          call(route.record === true ? await this.recordTx(this.own()) : await this.open(this.own()), m, a);
      case 'lookup':
        return (...a) => this.lookup((tx) => call(tx, m, a));
      case 'by-ids': {
        const ids = route.ids as (...a: unknown[]) => readonly string[];
        const narrow = route.narrow as unknown as (here: string[], ...a: unknown[]) => unknown[];
        return (...a) =>
          this.byIds(
            ids(...a),
            async (tx, id) => (await call(tx, route.exists, [id])) !== undefined,
            async (tx, here) => {
              await call(tx, m, narrow(here, ...a));
            },
          );
      }
      case 'every': {
        const merge = route.merge as (answers: unknown[], ...a: unknown[]) => unknown;
        return async (...a) =>
          merge(await Promise.all((await this.every()).map((tx) => call(tx, m, a))), ...a);
      }
      case 'outbox-item':
        return async (id, ...rest) => {
          const { i, local } = this.localOf(id as number);
          return call(await this.recordTx(i), m, [local, ...rest]);
        };
    }
  }

  /** Outbox ids of every store in one space: the store is the id modulo the store count. */
  private globalId(i: number, local: number): number {
    return local * this.rs.storeCount + i;
  }

  private localOf(id: number): { i: number; local: number } {
    return { i: id % this.rs.storeCount, local: Math.floor(id / this.rs.storeCount) };
  }

  private specialRoutes(): Pick<StoreTx, SpecialRoutedMethod> {
    return {
      // An epoch's entries are in every region: drop up to `limit` of them, store by store.
      dropPrivateEntries: async (epoch, limit) => {
        let left = limit;
        for (const tx of await this.every()) {
          if (left <= 0) break;
          left -= await tx.dropPrivateEntries(epoch, left);
        }
        return limit - left;
      },
      // The due items of every store, oldest first, with ids that say their store.
      dueOutbox: async (nowMs, limit) => {
        const txs = await this.every();
        const found: (OutboxItem & { store: number; local: number })[] = [];
        for (const [i, tx] of txs.entries()) {
          for (const item of await tx.dueOutbox(nowMs, limit)) {
            found.push({ ...item, id: this.globalId(i, item.id), store: i, local: item.id });
          }
        }
        found.sort((a, b) => a.nextAt - b.nextAt || a.store - b.store || a.local - b.local);
        return found.slice(0, limit).map(({ store: _s, local: _l, ...item }) => item);
      },
    };
  }
}
