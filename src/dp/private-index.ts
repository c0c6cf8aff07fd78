import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  type BlindEvaluation,
  createOprfServer,
  generateKeyPair,
  type OprfServer,
  ready,
} from '../crypto/oprf-server.js';
import {
  bucketKeyOf,
  bucketOf,
  bucketRange,
  chooseBucketBits,
  PAYLOAD_OVERHEAD,
  PAYLOAD_QUANTUM,
  sealAnswer,
  tagOf,
} from '../crypto/private-entry.js';
import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import {
  type BucketParts,
  type EpochInfo,
  encodeBucketBatch,
  encodeBucketFrames,
  MAX_BUCKET_BATCH,
  mergeFrames,
  PrivateSuite,
} from '../protocol/private.js';
import {
  MappingState,
  type OprfEpoch,
  OprfEpochState,
  type Store,
  type StoredMapping,
  type StoreTx,
} from '../store/store.js';
import { leafHash } from '../tlog/merkle.js';
import { resultFor } from './lookup.js';
import { dummyFrames, dummyKeyOf, isLegacyKey, keyLogEntry, openKey, sealKey } from './private-epoch-keys.js';
import { leafBytes, type TransparencyLog } from './transparency-log.js';

/**
 * The private index (DESIGN.md "Lookup paths and privacy"; R9, R22, R26, R28), free of HTTP.
 *
 * For every CSI with served records it keeps, per OPRF key epoch, one entry derived from
 * out = VOPRF(k, csi) (RFC 9497 §3.3.2 Evaluate over the canonical CSI's UTF-8): a bucket key, a tag
 * and the CSI's verbose answer sealed under a key from out (src/crypto/private-entry.ts). A client
 * learns out only through a blinded, rate-limited evaluation, so the DP never sees the CSI it asks
 * about (R9, R26) and a download of every bucket decrypts nothing (R22, R28).
 *
 * Key epochs: the OPRF key rotates every `rotationSeconds`. A new epoch's index is built in the
 * background in batches while the current one serves; once complete it becomes active and the old
 * one keeps serving (as `retiring`) for `overlapSeconds`, so a client that evaluated under it can
 * still fetch its buckets; then the old key and index are deleted. No lookup fails in a rotation.
 *
 * Over 400 lines on purpose: the epochs' lifecycle (build, rotate, retire) and their serving share
 * one in-memory state (loaded keys, served epochs) that a split would spread; the keys at rest,
 * the key leaf and the dummies are in private-epoch-keys.ts.
 */
export interface PrivateIndexOptions {
  store: Store;
  /** The DP id, as written in the verbose answers the index seals. */
  dpId: string;
  /**
   * 32-byte key-encryption key. Epoch keys are created at run time by rotation and must reach
   * every DP node of a deployment, so they live in the store, sealed under this key; a copy of the
   * database alone (backup, replica) cannot evaluate the OPRF.
   */
  kek: Uint8Array;
  /** R22: every bucket should hold at least this many real entries. */
  kAnonymity: number;
  rotationSeconds: number;
  overlapSeconds: number;
  /** CSIs indexed per background transaction. */
  buildBatch?: number;
  maxEvaluateBatch: number;
  now: () => number;
  /** How often `start()` runs `tick()`, in ms. */
  tickMs?: number;
  /**
   * The DP's transparency log, if any (R9, R26): each epoch's public key is committed in it, in
   * the transaction that creates the epoch, as an `oprf-key` leaf; clients refuse an evaluation
   * under a key that is not the logged one for its epoch. A getter, since the log is made after.
   */
  log?: () => TransparencyLog | undefined;
}

/** Where an epoch's key is logged: its leaf index, leaf, audit path and checkpoint (JSON, as for a mapping). */
export interface EpochKeyLog {
  index: number;
  leaf: string;
  proof: string[];
  checkpoint: string;
}

/** Bucket bits are chosen at activation among 0..MAX_BUCKET_BITS. */
export const MAX_BUCKET_BITS = 20;
/** Buckets are padded with dummies to a multiple of this many entries. */
const PAD_STEP = 8;
/** Payload length of a dummy before any real payload length is known: one mapping (v2). */
const DEFAULT_DUMMY_LENGTH = 7 * PAYLOAD_QUANTUM + PAYLOAD_OVERHEAD;
const encoder = new TextEncoder();

interface LoadedEpoch {
  row: OprfEpoch;
  server: OprfServer;
  dummyKey: Buffer;
}

export class PrivateIndex {
  private readonly opts: Required<Omit<PrivateIndexOptions, 'tickMs' | 'log'>> & {
    tickMs: number;
    log: () => TransparencyLog | undefined;
  };
  /** Leaf index of each epoch's `oprf-key` leaf, once found. */
  private readonly keyLeaves = new Map<number, number>();
  private readonly loaded = new Map<number, LoadedEpoch>();
  /** Served epochs (active and retiring), newest first, as last read from the store. */
  private serving: OprfEpoch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastSweep = 0;
  private lastRebucketCheck = 0;
  private closed = false;
  /** Set by stop(): a background build in progress ends after its current batch. */
  private stopped = false;

  constructor(opts: PrivateIndexOptions) {
    if (opts.kek.length !== 32) throw new TypeError('kek must be 32 bytes');
    this.opts = { buildBatch: 500, tickMs: 5_000, log: () => undefined, ...opts };
  }

  get kAnonymity(): number {
    return this.opts.kAnonymity;
  }

  get maxEvaluateBatch(): number {
    return this.opts.maxEvaluateBatch;
  }

  /** Loads the epochs; on a node without one, builds and activates the first (before serving). */
  async open(): Promise<void> {
    await ready();
    this.lastSweep = this.opts.now();
    this.lastRebucketCheck = this.lastSweep;
    // Epochs from before VOPRF index OPRF-mode outputs, which no client computes any more: they
    // stop being served, and the first VOPRF epoch is built before this node serves.
    for (const e of await this.opts.store.oprfEpochs()) {
      if (e.state !== OprfEpochState.Retired && isLegacyKey(this.opts.kek, e)) await this.retire(e.id);
    }
    const epochs = await this.opts.store.oprfEpochs();
    const live = epochs.filter((e) => e.state !== OprfEpochState.Retired);
    if (!live.some((e) => e.state === OprfEpochState.Active)) {
      const building =
        live.find((e) => e.state === OprfEpochState.Building) ?? (await this.createEpoch(true));
      await this.buildToEnd(building.id);
    }
    await this.refresh();
  }

  /**
   * Runs `tick()` in the background every `tickMs`, until stop(). With many nodes (R22) only the
   * node leading `LeaderRole.PrivateIndex` runs it (src/store/leadership.ts), so one node builds,
   * rotates and retires epochs; every node serves them (`servable` re-reads the epochs when a
   * client names one it has not seen).
   */
  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => {
      this.tick().catch(() => undefined);
    }, this.opts.tickMs);
    this.timer.unref();
  }

  /** Stops the background work: a build ends after its current batch (another node resumes it from its cursor). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  /**
   * Background work, one run at a time: start a rotation when due, build a started one batch by
   * batch, activate it, retire epochs past their overlap, and re-seal answers whose mappings
   * expired since the last run.
   */
  tick(): Promise<void> {
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async work(): Promise<void> {
    const now = this.opts.now();
    let epochs = await this.opts.store.oprfEpochs();
    const active = epochs.find((e) => e.state === OprfEpochState.Active);
    let building = epochs.find((e) => e.state === OprfEpochState.Building);
    if (building === undefined && active !== undefined && (await this.rotationDue(active, now))) {
      building = await this.createEpoch();
    }
    if (building !== undefined) await this.buildToEnd(building.id, () => this.stopped);
    if (this.stopped || this.closed) return;
    epochs = await this.opts.store.oprfEpochs();
    for (const e of epochs) {
      if (e.state === OprfEpochState.Retiring && e.retireAt !== null && e.retireAt <= this.opts.now()) {
        await this.retire(e.id);
      }
    }
    // Served answers whose mappings expired since the last run are re-sealed without them.
    const to = this.opts.now();
    if (to > this.lastSweep) {
      const from = this.lastSweep;
      await this.opts.store.write(async (tx) =>
        this.onServedChange(tx, await tx.csisExpiringBetween(from, to), to),
      );
      this.lastSweep = to;
    }
    await this.refresh();
  }

  /** Due on schedule, or early when the index has grown enough for two more bucket bits (R22). */
  private async rotationDue(active: OprfEpoch, now: number): Promise<boolean> {
    if ((active.activatedAt ?? active.createdAt) + this.opts.rotationSeconds <= now) return true;
    if (now - this.lastRebucketCheck < 600 || active.bucketBits + 2 > MAX_BUCKET_BITS) return false;
    this.lastRebucketCheck = now;
    const { counts } = await this.opts.store.privateIndexStats(active.id, active.bucketBits + 2);
    return chooseBucketBits(counts, this.opts.kAnonymity).bits >= active.bucketBits + 2;
  }

  /** Rotates now: a new key, its index built to the end, activated; the old epoch starts retiring. */
  async rotate(): Promise<number> {
    await this.running?.catch(() => undefined);
    const epochs = await this.opts.store.oprfEpochs();
    const building = epochs.find((e) => e.state === OprfEpochState.Building) ?? (await this.createEpoch());
    await this.buildToEnd(building.id);
    await this.refresh();
    return building.id;
  }

  /** Retires every retiring epoch whose overlap has passed. */
  async retireDue(): Promise<number[]> {
    const retired: number[] = [];
    for (const e of await this.opts.store.oprfEpochs()) {
      if (e.state === OprfEpochState.Retiring && e.retireAt !== null && e.retireAt <= this.opts.now()) {
        await this.retire(e.id);
        retired.push(e.id);
      }
    }
    await this.refresh();
    return retired;
  }

  /**
   * A new building epoch, or the one another node created meanwhile: nodes starting together on
   * an empty database all call this from open(); the epoch ids collide, the losers' writes run
   * again (PostgreSQL retries a unique violation) and find the winner's epoch (or, with
   * `unlessActive`, the active one it has built meanwhile).
   */
  private async createEpoch(unlessActive = false): Promise<OprfEpoch> {
    const { secretKey, publicKey } = generateKeyPair();
    const created = this.opts.now();
    const row = await this.opts.store.write(async (tx) => {
      const epochs = await tx.oprfEpochs();
      const building = epochs.find(
        (e) => e.state === OprfEpochState.Building || (unlessActive && e.state === OprfEpochState.Active),
      );
      if (building !== undefined) return building;
      const id = (epochs.at(-1)?.id ?? 0) + 1;
      const fresh: OprfEpoch = {
        id,
        state: OprfEpochState.Building,
        sealedKey: sealKey(this.opts.kek, id, secretKey),
        publicKey,
        bucketBits: 0,
        padTo: 0,
        dummyLength: DEFAULT_DUMMY_LENGTH,
        minBucket: null,
        buildCursor: null,
        createdAt: created,
        activatedAt: null,
        retireAt: null,
      };
      await tx.insertOprfEpoch(fresh);
      // R9, R26: the key is logged with the epoch, in one transaction: no epoch without its leaf.
      await this.opts.log()?.append(tx, keyLogEntry(fresh));
      return fresh;
    });
    secretKey.fill(0);
    return row;
  }

  /**
   * Builds a building epoch's index in batches of `buildBatch` CSIs, yielding to the event loop
   * between them so lookups keep being served; then activates it. Writes made meanwhile reach the
   * new epoch through `onServedChange`.
   *
   * Each batch is two writes: its entries, then the cursor past them. With data residency the
   * entries live in the CSIs' regions and the cursor in the home store, which commits first
   * within one write, so a single write could move the cursor past entries that then failed to
   * land, leaving those CSIs out of the epoch. A batch redone after a failure between the two
   * writes seals the same CSIs again (an entry is replaced, not added). The cursor moves only from
   * where the batch started, so a build that lost a race to another node never moves it back.
   */
  private async buildToEnd(epochId: number, halted: () => boolean = () => false): Promise<void> {
    const building = (tx: StoreTx) =>
      tx
        .oprfEpochs()
        .then((epochs) => epochs.find((e) => e.id === epochId && e.state === OprfEpochState.Building));
    for (;;) {
      if (this.closed || halted()) return;
      const batch = await this.opts.store.write(async (tx) => {
        const epoch = await building(tx);
        if (epoch === undefined) return undefined;
        const now = this.opts.now();
        const csis = await tx.servedCsisAfter(epoch.buildCursor, this.opts.buildBatch, now);
        await this.seal(tx, epoch, csis, now);
        return { from: epoch.buildCursor, csis };
      });
      if (batch === undefined) break;
      const last = batch.csis.at(-1);
      if (last !== undefined) {
        await this.opts.store.write(async (tx) => {
          if ((await building(tx))?.buildCursor === batch.from)
            await tx.updateOprfEpoch(epochId, { buildCursor: last });
        });
      }
      if (batch.csis.length < this.opts.buildBatch) break;
      await yieldToEventLoop();
    }
    await this.activate(epochId);
  }

  /** R22: fixes the bucket bits for k-anonymity and the padding, then serves the epoch. */
  private async activate(epochId: number): Promise<void> {
    const stats = await this.opts.store.privateIndexStats(epochId, MAX_BUCKET_BITS);
    const { bits, min } = chooseBucketBits(stats.counts, this.opts.kAnonymity);
    const total = stats.counts.reduce((a, b) => a + b, 0);
    const mean = Math.ceil(total / 2 ** bits);
    const padTo = Math.ceil(Math.max(this.opts.kAnonymity, mean) / PAD_STEP) * PAD_STEP;
    const now = this.opts.now();
    await this.opts.store.write(async (tx) => {
      const epochs = await tx.oprfEpochs();
      if (epochs.find((e) => e.id === epochId)?.state !== OprfEpochState.Building) return;
      for (const e of epochs) {
        if (e.state === OprfEpochState.Active) {
          await tx.updateOprfEpoch(e.id, {
            state: OprfEpochState.Retiring,
            retireAt: now + this.opts.overlapSeconds,
          });
        }
      }
      await tx.updateOprfEpoch(epochId, {
        state: OprfEpochState.Active,
        bucketBits: bits,
        padTo,
        dummyLength: stats.modalPayloadLength || DEFAULT_DUMMY_LENGTH,
        minBucket: total === 0 ? 0 : min,
        activatedAt: now,
        buildCursor: null,
      });
    });
  }

  /** Stops serving an epoch at once, forgets its key, then deletes its entries in batches. */
  private async retire(epochId: number): Promise<void> {
    await this.opts.store.write((tx) => tx.updateOprfEpoch(epochId, { state: OprfEpochState.Retired }));
    this.loaded.delete(epochId);
    this.serving = this.serving.filter((e) => e.id !== epochId);
    while ((await this.opts.store.write((tx) => tx.dropPrivateEntries(epochId, 5_000))) > 0) {
      await yieldToEventLoop();
    }
  }

  private async refresh(): Promise<void> {
    const epochs = await this.opts.store.oprfEpochs();
    this.serving = epochs
      .filter((e) => e.state === OprfEpochState.Active || e.state === OprfEpochState.Retiring)
      .sort((a, b) => b.id - a.id);
    for (const id of this.loaded.keys()) {
      if (!epochs.some((e) => e.id === id && e.state !== OprfEpochState.Retired)) this.loaded.delete(id);
    }
    for (const e of this.serving) {
      const l = this.loaded.get(e.id);
      if (l !== undefined) l.row = e;
    }
  }

  private async load(epoch: OprfEpoch): Promise<LoadedEpoch> {
    const have = this.loaded.get(epoch.id);
    if (have !== undefined) return have;
    const secretKey = openKey(this.opts.kek, epoch.id, epoch.sealedKey);
    const server = await createOprfServer(secretKey, { maxBatchSize: this.opts.maxEvaluateBatch });
    const dummyKey = dummyKeyOf(secretKey, epoch.id);
    secretKey.fill(0);
    const l = { row: epoch, server, dummyKey };
    this.loaded.set(epoch.id, l);
    return l;
  }

  /**
   * The write hook (R9): re-seals the entries of `csis` in every live epoch from the state inside
   * `tx`, so the private index changes in the same transaction as the mappings. DiscoveryProvider
   * calls it on every accept, supersede, invalidate, opt-out and contest change.
   */
  async onServedChange(tx: StoreTx, csis: readonly string[], now: number): Promise<void> {
    if (csis.length === 0) return;
    // Asked together with the first CSI's rows: on PostgreSQL one round trip for both (issue 16).
    const epochs = tx.oprfEpochs().then((all) => all.filter((e) => e.state !== OprfEpochState.Retired));
    for (const csi of new Set(csis)) {
      // Each CSI's rows, then its entries in every epoch: with data residency (R27) an entry is
      // written in the region of the CSI read last (contract.ts, putPrivateEntry).
      const [live, rows] = await Promise.all([epochs, this.servedRows(tx, csi, now)]);
      for (const epoch of live) await this.sealOne(tx, epoch, csi, rows, now);
    }
  }

  /** A build batch: each CSI's rows, then its entry (in that order, as in onServedChange). */
  private async seal(tx: StoreTx, epoch: OprfEpoch, csis: readonly string[], now: number): Promise<void> {
    for (const csi of csis) await this.sealOne(tx, epoch, csi, await this.servedRows(tx, csi, now), now);
  }

  /** The CSI's rows the plain lookup serves now. */
  private async servedRows(tx: StoreTx, csi: string, now: number): Promise<StoredMapping[]> {
    return (await tx.liveMappings(csi)).filter((m) => m.state === MappingState.Active && m.expiresAt > now);
  }

  /** The CSI's entry in `epoch`: its served rows sealed, or deleted when it has none. */
  private async sealOne(
    tx: StoreTx,
    epoch: OprfEpoch,
    csi: string,
    rows: readonly StoredMapping[],
    now: number,
  ): Promise<void> {
    const { server } = await this.load(epoch);
    const out = server.evaluate(encoder.encode(csi));
    if (rows.length === 0) {
      await tx.deletePrivateEntry(epoch.id, { bucketKey: bucketKeyOf(out), tag: tagOf(out) });
    } else {
      // Exactly the mappings the plain lookup serves for this CSI, in its order (plaintext v2).
      const { rows: served } = resultFor(csi, csi, rows);
      const sealed = sealAnswer(
        out,
        served.map((m) => m.json),
        { csi, dp: this.opts.dpId },
      );
      await tx.putPrivateEntry(epoch.id, sealed, now);
    }
    out.fill(0);
  }

  // ---- serving ---------------------------------------------------------------------------------

  private async servable(epochId: number): Promise<LoadedEpoch> {
    let epoch = this.serving.find((e) => e.id === epochId);
    if (epoch === undefined) {
      // Another node may have rotated: look once more before refusing.
      await this.refresh();
      epoch = this.serving.find((e) => e.id === epochId);
    }
    if (epoch === undefined) {
      throw new MimiError('epoch-unknown', `epoch ${epochId} is not served; GET /v1/private/epochs`, {
        current: this.serving[0]?.id ?? null,
      });
    }
    return this.load(epoch);
  }

  /**
   * RFC 9497 §3.3.2 BlindEvaluate under the key of `epochId`, with one proof for the batch. Throws
   * OprfError for an invalid or identity element (RFC 9497 §2.1), before any multiplication.
   */
  async evaluate(epochId: number, elements: readonly Uint8Array[]): Promise<BlindEvaluation> {
    const { server } = await this.servable(epochId);
    return server.blindEvaluate(elements);
  }

  /**
   * Every entry of one bucket, real ones and deterministic dummies sorted together by tag, so the
   * same bucket downloads identically until it changes and dummies cannot be told from real
   * entries (AES-GCM output and the dummy stream are both pseudorandom).
   */
  async bucket(epochId: number, bucket: number): Promise<Uint8Array> {
    const loaded = await this.servable(epochId);
    checkBucket(loaded.row, bucket);
    const { head, parts } = await this.partsOf(loaded, bucket);
    return encodeBucketFrames(head, mergeFrames(parts));
  }

  /**
   * Several buckets of one epoch in one body (POST /v1/private/buckets), each exactly as
   * {@link bucket} serves it, in the order asked. At most {@link MAX_BUCKET_BATCH} distinct
   * buckets, all checked before any is read; reveals the same bucket ids as separate requests.
   */
  async buckets(epochId: number, buckets: readonly number[]): Promise<Uint8Array> {
    if (buckets.length > MAX_BUCKET_BATCH) {
      throw new MimiError('batch-too-large', `at most ${MAX_BUCKET_BATCH} buckets per request`, {
        limit: MAX_BUCKET_BATCH,
      });
    }
    if (new Set(buckets).size !== buckets.length) {
      throw new MimiError('record-invalid', 'a bucket is asked twice');
    }
    const loaded = await this.servable(epochId);
    for (const b of buckets) checkBucket(loaded.row, b);
    const parts: BucketParts[] = [];
    for (const b of buckets) parts.push(await this.partsOf(loaded, b));
    // Each bucket read once and each entry copied once, into the answer.
    return encodeBucketBatch(parts);
  }

  /** One bucket's parts: the stored entries and this bucket's dummies, to be merged by tag. */
  private async partsOf({ row, dummyKey }: LoadedEpoch, bucket: number): Promise<BucketParts> {
    const bits = row.bucketBits;
    const [from, to] = bucketRange(bucket, bits);
    const real = await this.opts.store.privateBucket(row.id, from, to);
    const size = Math.max(row.padTo, Math.ceil(real.count / PAD_STEP) * PAD_STEP);
    const padding = dummyFrames(dummyKey, bucket, size - real.count, row.dummyLength);
    return { head: { epoch: row.id, bits, bucket }, parts: [real, padding] };
  }

  /** The served epochs with their public information, newest first. */
  epochs(): EpochInfo[] {
    return this.serving.map((e) => ({
      id: e.id,
      state: e.state === OprfEpochState.Active ? 'active' : 'retiring',
      publicKey: toB64u(e.publicKey),
      bucketBits: e.bucketBits,
      bucketCount: 2 ** e.bucketBits,
      minBucket: e.minBucket,
      activatedAt: e.activatedAt,
      retireAt: e.retireAt,
    }));
  }

  /**
   * Where each served epoch's key is logged (R9, R26), by epoch id: the `oprf-key` leaf written
   * when the epoch was created, found by its hash, with its audit path to a signed checkpoint.
   * Epochs without a log (or a leaf) are absent.
   */
  async keyLogs(): Promise<Map<number, EpochKeyLog>> {
    const out = new Map<number, EpochKeyLog>();
    const log = this.opts.log();
    if (log === undefined) return out;
    for (const e of this.serving) {
      let index = this.keyLeaves.get(e.id);
      if (index === undefined) {
        const entry = keyLogEntry(e);
        index = await log.leafIndexOf(leafHash(leafBytes(entry, entry.pseudonym)));
        if (index === undefined) continue;
        this.keyLeaves.set(e.id, index);
      }
      out.set(e.id, {
        index,
        ...(JSON.parse(await log.mappingProofJson(index)) as Omit<EpochKeyLog, 'index'>),
      });
    }
    return out;
  }

  /** The epoch new evaluations use. */
  current(): number {
    const active = this.serving.find((e) => e.state === OprfEpochState.Active);
    if (active === undefined) throw new MimiError('internal', 'no active OPRF epoch');
    return active.id;
  }

  /** R11, R22: what /.well-known/mimi-discovery publishes about this path. */
  metadata() {
    return {
      suite: PrivateSuite.Suite,
      mode: PrivateSuite.Mode,
      kAnonymity: this.opts.kAnonymity,
      maxEvaluateBatch: this.opts.maxEvaluateBatch,
      maxBucketBatch: MAX_BUCKET_BATCH,
      rotationSeconds: this.opts.rotationSeconds,
      overlapSeconds: this.opts.overlapSeconds,
      epochs: this.epochs().map((e) => ({
        id: e.id,
        state: e.state,
        publicKey: e.publicKey,
        bucketCount: e.bucketCount,
        minBucket: e.minBucket,
      })),
    };
  }

  /** The bucket a given OPRF output falls in under a served epoch (tests and tools). */
  bucketOfOutput(epochId: number, bucketKey: number): number {
    const e = this.serving.find((x) => x.id === epochId);
    if (e === undefined) throw new MimiError('epoch-unknown', `epoch ${epochId} is not served`);
    return bucketOf(bucketKey, e.bucketBits);
  }
}

function checkBucket(row: OprfEpoch, bucket: number): void {
  const bits = row.bucketBits;
  if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket >= 2 ** bits) {
    throw new MimiError('not-found', `epoch ${row.id} has buckets 0 to ${2 ** bits - 1}`, { bucket });
  }
}

export { LEGACY_KEY_LABEL, sealKey } from './private-epoch-keys.js';
