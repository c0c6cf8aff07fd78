import { MimiError } from '../../protocol/errors.js';
import { type EntryFrames, mergeFrames } from '../../protocol/private.js';
import { conflictOf, isRace, RegionUnavailable, ResidencyViolation, StoreError } from '../errors.js';
import type {
  HolderKey,
  LogCheckpointRow,
  LogForkRow,
  LogHead,
  LogLeafRow,
  OprfEpoch,
  OutboxItem,
  ServedReadOptions,
  ServedStoredMapping,
  Store,
  StoredMapping,
  StoreTx,
  WitnessedRow,
} from '../store.js';
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

/** Thrown into a region transaction to roll it back. */
const rollback = new Error('rolled back by the residency store');

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
interface Plan {
  /** Store indices opened at the start, in ascending order. */
  want: ReadonlySet<number>;
  /** The store of the write's CSIs, when known from an earlier attempt. */
  region: number | undefined;
}

/** Ends an attempt so that the next one starts with `plan`. */
class Restart {
  constructor(readonly plan: Plan) {}
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
/** Bytewise order of CSIs, as both backends sort them (whatever the locale). */
const byBytes = (a: string, b: string) => Buffer.compare(utf8(a), utf8(b));

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
export class ResidencyStore implements Store {
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

  async activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>> {
    return this.byRegion(csis, (s, group) => s.activeMappings(group, now));
  }

  async servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>> {
    return this.byRegion(csis, (s, group) => s.servedMappings(group, now, opts));
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

  /** A mapping id names no region: every store is asked. */
  async mapping(id: string): Promise<StoredMapping | undefined> {
    const found = await Promise.all(this.stores.map((s) => s.mapping(id)));
    return found.find((m) => m !== undefined);
  }

  async stats(): Promise<{ mappings: number; active: number }> {
    const all = await Promise.all(this.stores.map((s) => s.stats()));
    return {
      mappings: all.reduce((n, s) => n + s.mappings, 0),
      active: all.reduce((n, s) => n + s.active, 0),
    };
  }

  async outboxDepth(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const depth of await Promise.all(this.stores.map((s) => s.outboxDepth()))) {
      for (const [target, n] of Object.entries(depth)) out[target] = (out[target] ?? 0) + n;
    }
    return out;
  }

  async oprfEpochs(): Promise<OprfEpoch[]> {
    return this.home.oprfEpochs();
  }

  /** A bucket holds entries of every region: each store's part, merged by tag. */
  async privateBucket(epoch: number, fromKey: number, toKey: number): Promise<EntryFrames> {
    return mergeFrames(await Promise.all(this.stores.map((s) => s.privateBucket(epoch, fromKey, toKey))));
  }

  /**
   * Counts are summed over the regions. The modal payload length (the length of dummy entries)
   * is the most common of the regions' own modal lengths, weighted by their entry counts: exact
   * when the regions share it, which they do as long as most CSIs have the same number of
   * mappings everywhere; the index itself does not tell more without reading every entry.
   */
  async privateIndexStats(
    epoch: number,
    bits: number,
  ): Promise<{ counts: number[]; modalPayloadLength: number }> {
    const all = await Promise.all(this.stores.map((s) => s.privateIndexStats(epoch, bits)));
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

  logHead(): Promise<LogHead> {
    return this.home.logHead();
  }

  logLeaves(start: number, end: number): Promise<LogLeafRow[]> {
    return this.home.logLeaves(start, end);
  }

  logLeafIndex(hash: Uint8Array): Promise<number | undefined> {
    return this.home.logLeafIndex(hash);
  }

  logSubtrees(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]> {
    return this.home.logSubtrees(ranges);
  }

  latestCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return this.home.latestCheckpoint();
  }

  latestCosignedCheckpoint(): Promise<LogCheckpointRow | undefined> {
    return this.home.latestCosignedCheckpoint();
  }

  checkpointAt(size: number): Promise<LogCheckpointRow | undefined> {
    return this.home.checkpointAt(size);
  }

  witnessedLogs(): Promise<WitnessedRow[]> {
    return this.home.witnessedLogs();
  }

  logForks(): Promise<LogForkRow[]> {
    return this.home.logForks();
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

/** One attempt of a routed write: the transactions it holds and what it learned about its region. */
class RoutedWrite {
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
    private readonly rs: ResidencyStore,
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
    const n = () => this.rs.storeCount;
    const globalId = (i: number, local: number) => local * n() + i;
    const localOf = (id: number) => ({ i: id % n(), local: Math.floor(id / n()) });
    return {
      liveMappings: async (csi) => (await this.at(csi)).liveMappings(csi),
      mapping: (id) => this.lookup((tx) => tx.mapping(id)),
      mappingByBodyDigest: (d) => this.lookup((tx) => tx.mappingByBodyDigest(d)),
      insertMapping: async (row) => {
        await this.at(row.csi);
        return (await this.recordTx(this.region!)).insertMapping(row);
      },
      setState: (ids, state, now, contestDeadline) =>
        this.byIds(
          ids,
          async (tx, id) => (await tx.mapping(id)) !== undefined,
          (tx, here) => tx.setState(here, state, now, contestDeadline),
        ),
      holderKey: async (csi, key) => (await this.at(csi)).holderKey(csi, key),
      insertHolderKey: async (row: HolderKey) => {
        await this.at(row.csi);
        return (await this.recordTx(this.region!)).insertHolderKey(row);
      },
      retireHolderKey: async (csi, key) => {
        await this.at(csi);
        return (await this.recordTx(this.region!)).retireHolderKey(csi, key);
      },
      rememberRequest: async (id, expiresAt) =>
        (await this.recordTx(this.own())).rememberRequest(id, expiresAt),
      // Not CSI data: kept in the node's own region, like request ids.
      spendToken: async (keyId, nonce, keepUntil) =>
        (await this.recordTx(this.own())).spendToken(keyId, nonce, keepUntil),
      csisWithDueContests: async (now) => {
        const found = await Promise.all((await this.every()).map((tx) => tx.csisWithDueContests(now)));
        return [...new Set(found.flat())];
      },
      insertChallenge: async (c) => {
        await this.at(c.csi);
        return (await this.recordTx(this.region!)).insertChallenge(c);
      },
      challenge: (id) => this.lookup((tx) => tx.challenge(id)),
      updateChallenge: (id, attempts, state) =>
        this.byIds(
          [id],
          async (tx, c) => (await tx.challenge(c)) !== undefined,
          (tx) => tx.updateChallenge(id, attempts, state),
        ),
      countRecentChallenges: async (csi, since) => (await this.at(csi)).countRecentChallenges(csi, since),
      // A mailbox's CSIs share its domain, so its region.
      countRecentMailboxChallenges: async (csi, since) =>
        (await this.at(csi)).countRecentMailboxChallenges(csi, since),
      oprfEpochs: async () => (await this.home()).oprfEpochs(),
      insertOprfEpoch: async (e) => (await this.home()).insertOprfEpoch(e),
      updateOprfEpoch: async (id, patch) => (await this.home()).updateOprfEpoch(id, patch),
      // Entries are sealed right after the CSI's mappings are read (PrivateIndex.seal): the
      // write's region is that CSI's.
      putPrivateEntry: async (epoch, entry, now) =>
        (await this.open(this.own())).putPrivateEntry(epoch, entry, now),
      deletePrivateEntry: async (epoch, entry) =>
        (await this.open(this.own())).deletePrivateEntry(epoch, entry),
      dropPrivateEntries: async (epoch, limit) => {
        let left = limit;
        for (const tx of await this.every()) {
          if (left <= 0) break;
          left -= await tx.dropPrivateEntries(epoch, left);
        }
        return limit - left;
      },
      servedCsisAfter: async (after, limit, now) => {
        const found = await Promise.all(
          (await this.every()).map((tx) => tx.servedCsisAfter(after, limit, now)),
        );
        return found.flat().sort(byBytes).slice(0, limit);
      },
      csisExpiringBetween: async (from, to) => {
        const found = await Promise.all((await this.every()).map((tx) => tx.csisExpiringBetween(from, to)));
        return found.flat();
      },
      enqueue: async (items, nowMs) => (await this.recordTx(this.own())).enqueue(items, nowMs),
      dueOutbox: async (nowMs, limit) => {
        const txs = await this.every();
        const found: (OutboxItem & { store: number; local: number })[] = [];
        for (const [i, tx] of txs.entries()) {
          for (const item of await tx.dueOutbox(nowMs, limit)) {
            found.push({ ...item, id: globalId(i, item.id), store: i, local: item.id });
          }
        }
        found.sort((a, b) => a.nextAt - b.nextAt || a.store - b.store || a.local - b.local);
        return found.slice(0, limit).map(({ store: _s, local: _l, ...item }) => item);
      },
      outboxDelivered: async (id, nowMs) => {
        const { i, local } = localOf(id);
        return (await this.recordTx(i)).outboxDelivered(local, nowMs);
      },
      outboxRetry: async (id, attempts, nextAtMs, error) => {
        const { i, local } = localOf(id);
        return (await this.recordTx(i)).outboxRetry(local, attempts, nextAtMs, error);
      },
      insertCsipEvent: async (row, now) => {
        await this.at(row.csi);
        return (await this.recordTx(this.region!)).insertCsipEvent(row, now);
      },
      csipCutoff: async (csi) => (await this.at(csi)).csipCutoff(csi),
      logHead: async () => (await this.home()).logHead(),
      appendLog: async (leaves, nodes, head) => (await this.home()).appendLog(leaves, nodes, head),
      insertCheckpoint: async (row) => (await this.home()).insertCheckpoint(row),
      addCosignature: async (size, witness, line, at) =>
        (await this.home()).addCosignature(size, witness, line, at),
      witnessed: async (dp) => (await this.home()).witnessed(dp),
      setWitnessed: async (row) => (await this.home()).setWitnessed(row),
      insertLogFork: async (row) => (await this.home()).insertLogFork(row),
    };
  }
}
