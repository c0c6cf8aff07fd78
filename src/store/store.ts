import type { EntryFrames } from '../protocol/private.js';
import type { PossessionLevel, PossessionMethod } from '../protocol/records.js';

/**
 * The storage seam (STYLE.md §10): the DP and the verifier see only this interface; SQLite is the
 * embedded default, other backends implement the same and pass the same conformance suite.
 */
export const MappingState = {
  /** Served. */
  Active: 'active',
  /** A newer holder's mapping waiting out the incumbent's window (R17); not served. */
  Contested: 'contested',
  /** Withdrawn by its holder (R19, R25). */
  Invalidated: 'invalidated',
  /** Replaced by a newer mapping of the same holder, or by the holder's opt-out (R19). */
  Superseded: 'superseded',
  /** Lost precedence to another holder (R17). */
  Displaced: 'displaced',
  /** A contest the incumbent won by proving possession again (R17). */
  Lost: 'lost',
  /** Made stale by a CSIP event: disconnection, reassignment or a port away from its MSP (R16, R24). */
  Removed: 'removed',
} as const;
export type MappingState = (typeof MappingState)[keyof typeof MappingState];

/** What a served-mappings read leaves out. */
export interface ServedReadOptions {
  /** false: no signed record (default true). */
  json?: boolean;
  /**
   * false: nor the mapping's id and holder key (R15: a local compact answer shows neither), which
   * a store may then give as ''; with `json: false` only (default true).
   */
  keys?: boolean;
}

export interface StoredMapping {
  id: string;
  csi: string;
  /** Holders are grouped across key rotations: the group is the first key the holder used. */
  holderGroup: string;
  holderKey: string;
  msp: string | null;
  tag: string;
  priority: number;
  optOut: boolean;
  level: PossessionLevel;
  state: MappingState;
  acceptedAt: number;
  expiresAt: number;
  contestDeadline: number | null;
  /** Digest of the holder-signed body: a resubmission of the same body is answered, not duplicated. */
  bodyDigest: string;
  /** The signed mapping as served, canonical JSON. */
  json: string;
}

/** The part of a stored mapping that a lookup answer uses. */
export type ServedStoredMapping = Pick<
  StoredMapping,
  'id' | 'json' | 'holderKey' | 'msp' | 'tag' | 'priority' | 'acceptedAt' | 'expiresAt' | 'level' | 'optOut'
>;

export interface HolderKey {
  csi: string;
  key: string;
  group: string;
  retired: boolean;
}

/** StoreTx.csiState's answer. */
export interface CsiState {
  earlier: StoredMapping | undefined;
  cutoff: number | null;
  key: HolderKey | undefined;
  /** Active and contested rows, by acceptedAt then id (as liveMappings). */
  live: StoredMapping[];
}

export const ChallengeState = { Pending: 'pending', Passed: 'passed', Failed: 'failed' } as const;
export type ChallengeState = (typeof ChallengeState)[keyof typeof ChallengeState];

export interface Challenge {
  id: string;
  csi: string;
  holderKey: string;
  method: PossessionMethod;
  /** HMAC of the one-time code; the code itself is never stored. */
  codeHash: string;
  createdAt: number;
  expiresAt: number;
  attempts: number;
  state: ChallengeState;
}

/**
 * Private lookup (R9, R22, R26, R28): the OPRF key epochs and the private index. The index holds
 * no CSI and no OPRF output, only bucket keys, tags and sealed payloads; the epoch key is stored
 * sealed under the node's key-encryption key.
 */
export const OprfEpochState = {
  /** Its index is being built in the background; not served yet. */
  Building: 'building',
  /** The epoch new clients evaluate under. */
  Active: 'active',
  /** Replaced by a newer epoch, still served until `retireAt` so no lookup fails mid-rotation. */
  Retiring: 'retiring',
  /** Key and index gone. */
  Retired: 'retired',
} as const;
export type OprfEpochState = (typeof OprfEpochState)[keyof typeof OprfEpochState];

export interface OprfEpoch {
  id: number;
  state: OprfEpochState;
  /** The RFC 9497 secret key, sealed (AEAD) under the node's key-encryption key. */
  sealedKey: Uint8Array;
  publicKey: Uint8Array;
  /** Leading bits of the bucket hash that name a bucket; fixed when the epoch becomes active. */
  bucketBits: number;
  /** Buckets are padded with dummy entries up to this many entries. */
  padTo: number;
  /** Length of a dummy entry's payload (the most common real payload length). */
  dummyLength: number;
  /** Fewest real entries in any bucket when the epoch became active (the k-anonymity reached). */
  minBucket: number | null;
  /** Last CSI indexed by the background build; null before the first batch. */
  buildCursor: string | null;
  createdAt: number;
  activatedAt: number | null;
  retireAt: number | null;
}

export interface PrivateEntry {
  /** First 32 bits of H("mimi-discovery/v1/bucket" || out), as an unsigned integer. */
  bucketKey: number;
  tag: Uint8Array;
  payload: Uint8Array;
}

/** One event for one target (a peer DP id, or `webhook:<msp id>`), as the outbox keeps it. */
export interface OutboxItem {
  id: number;
  target: string;
  eventId: string;
  body: string;
  attempts: number;
  /** Milliseconds since the epoch. */
  nextAt: number;
}

export interface CsipEventRow {
  id: string;
  csi: string;
  kind: string;
  at: number;
  json: string;
}

/** Transparency log (R3, R28): the compact range of the whole tree (one root per set bit of size). */
export interface LogHead {
  size: number;
  edge: Uint8Array[];
}

export interface LogLeafRow {
  index: number;
  /** The leaf bytes (canonical JSON, no CSI). */
  data: Uint8Array;
  /** RFC 9162 leaf hash, SHA-256(0x00 || data). */
  hash: Uint8Array;
  time: number;
}

/** A complete subtree of 2^level leaves starting at leaf `index << level` (level >= 1). */
export interface LogNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface LogCheckpointRow {
  size: number;
  rootHash: Uint8Array;
  /** The DP-signed note, without cosignatures. */
  note: string;
  createdAt: number;
  /** Cosignature lines from witnesses (C2SP tlog-cosignature), in the order received. */
  cosignatures: string[];
}

/** As a witness: the last consistent checkpoint seen of a peer's log. */
export interface WitnessedRow {
  dp: string;
  size: number;
  rootHash: Uint8Array;
  note: string;
  seenAt: number;
}

/** Evidence that a peer showed a log inconsistent with what it showed before. */
export interface LogForkRow {
  id: number;
  dp: string;
  detectedAt: number;
  reason: string;
  /** JSON: both checkpoints and the proof (or its absence). */
  evidence: string;
}

/** Operations inside one atomic write; either all of them land or none. */
export interface StoreTx {
  liveMappings(csi: string): Promise<StoredMapping[]>;
  mapping(id: string): Promise<StoredMapping | undefined>;
  /**
   * What a submission of `holderKey` for `csi` is judged against, in one read under the CSI's
   * lock (R3, R16, R17): the mapping with this body digest, if any (a resubmission; the digest
   * covers the CSI), the CSI's CSIP cutoff, the key's row, and the live rows in acceptance order.
   */
  csiState(csi: string, holderKey: string, bodyDigest: string): Promise<CsiState>;
  insertMapping(row: StoredMapping): Promise<void>;
  /** Moves mappings to `state`; `contestDeadline` is kept only for contested ones. */
  setState(ids: readonly string[], state: MappingState, now: number, contestDeadline?: number): Promise<void>;
  holderKey(csi: string, key: string): Promise<HolderKey | undefined>;
  insertHolderKey(row: HolderKey): Promise<void>;
  retireHolderKey(csi: string, key: string): Promise<void>;
  /** Records a signed request's id; false when it was seen before (replay). */
  rememberRequest(id: string, expiresAt: number): Promise<boolean>;
  /**
   * Privacy Pass (RFC 9577 §2.2.2): records a redeemed token's (token key id, nonce), kept until
   * the key's notAfter; false when it was spent before (double spend). Nothing else is kept: no
   * time of spending, no client, so the row cannot be joined with a request log.
   */
  spendToken(tokenKeyId: string, nonce: string, keepUntil: number): Promise<boolean>;
  csisWithDueContests(now: number): Promise<string[]>;
  insertChallenge(row: Challenge): Promise<void>;
  challenge(id: string): Promise<Challenge | undefined>;
  updateChallenge(id: string, attempts: number, state: ChallengeState): Promise<void>;
  countRecentChallenges(csi: string, since: number): Promise<number>;
  /** Challenges since `since` for any CSI of `csi`'s mailbox (mailboxOf: plus-addressing folded). */
  countRecentMailboxChallenges(csi: string, since: number): Promise<number>;
  // private lookup
  oprfEpochs(): Promise<OprfEpoch[]>;
  insertOprfEpoch(epoch: OprfEpoch): Promise<void>;
  updateOprfEpoch(
    id: number,
    patch: Partial<Omit<OprfEpoch, 'id' | 'sealedKey' | 'publicKey' | 'createdAt'>>,
  ): Promise<void>;
  /** Inserts or replaces the entry with this tag in `epoch`. */
  putPrivateEntry(epoch: number, entry: PrivateEntry, now: number): Promise<void>;
  deletePrivateEntry(epoch: number, entry: Pick<PrivateEntry, 'bucketKey' | 'tag'>): Promise<void>;
  /** Deletes up to `limit` entries of a retired epoch; returns how many went. */
  dropPrivateEntries(epoch: number, limit: number): Promise<number>;
  /** CSIs with at least one active, unexpired mapping, in order, after `after`. */
  servedCsisAfter(after: string | null, limit: number, now: number): Promise<string[]>;
  /** CSIs with an active mapping whose expiry falls in (from, to]. */
  csisExpiringBetween(from: number, to: number): Promise<string[]>;
  // federation
  /** Queues events; a (target, event) pair already queued is left as it is. */
  enqueue(items: readonly { target: string; eventId: string; body: string }[], nowMs: number): Promise<void>;
  dueOutbox(nowMs: number, limit: number): Promise<OutboxItem[]>;
  outboxDelivered(id: number, nowMs: number): Promise<void>;
  outboxRetry(id: number, attempts: number, nextAtMs: number, error: string): Promise<void>;
  /** False when the event was recorded before. */
  insertCsipEvent(row: CsipEventRow, now: number): Promise<boolean>;
  /** When possession proved before is void: the latest disconnection or reassignment of the CSI. */
  csipCutoff(csi: string): Promise<number | null>;
  // transparency log: appends land in the same transaction as the change they log (R3)
  logHead(): Promise<LogHead>;
  /** Writes leaves (consecutive, from the head's size), the subtrees they complete, and the new head. */
  appendLog(leaves: readonly LogLeafRow[], nodes: readonly LogNode[], head: LogHead): Promise<void>;
  /** False when a checkpoint of this size exists already. */
  insertCheckpoint(row: Omit<LogCheckpointRow, 'cosignatures'>): Promise<boolean>;
  /** Stores (or replaces) a witness's cosignature line on the checkpoint of `size`. */
  addCosignature(size: number, witness: string, line: string, at: number): Promise<void>;
  witnessed(dp: string): Promise<WitnessedRow | undefined>;
  setWitnessed(row: WitnessedRow): Promise<void>;
  insertLogFork(row: Omit<LogForkRow, 'id'>): Promise<void>;
}

export interface Store {
  readonly backend: string;
  /**
   * Run `fn` as one serialisable transaction; a thrown error rolls everything back. A backend may
   * roll back and run `fn` again when it lost a race to another node (PostgreSQL), so `fn` acts
   * only through `tx`, or does only what is safe to repeat.
   */
  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Served mappings of each CSI: active and unexpired at `now`, from committed state only. */
  activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>>;
  /**
   * The same rows as activeMappings, with only what a lookup answer needs (a cheaper read); with
   * `json: false` not even the signed record (`json` is ''), for compact answers.
   */
  servedMappings(
    csis: readonly string[],
    now: number,
    opts?: ServedReadOptions,
  ): Promise<Map<string, ServedStoredMapping[]>>;
  mapping(id: string): Promise<StoredMapping | undefined>;
  stats(): Promise<{ mappings: number; active: number }>;
  /** Undelivered outbox items per target. */
  outboxDepth(): Promise<Record<string, number>>;
  /** Committed epochs, oldest first. */
  oprfEpochs(): Promise<OprfEpoch[]>;
  /**
   * Entries of `epoch` whose bucket key lies in [fromKey, toKey], framed as on the wire in no
   * particular order (protocol/private.ts EntryFrames; the DP sorts them by tag with the bucket's
   * dummies): read in one piece, since a contact sync downloads about a thousand buckets of dozens
   * of entries.
   */
  privateBucket(epoch: number, fromKey: number, toKey: number): Promise<EntryFrames>;
  /** Entry count per bucket for `bits` leading bits (dense, 2^bits long), and the modal payload length. */
  privateIndexStats(epoch: number, bits: number): Promise<{ counts: number[]; modalPayloadLength: number }>;
  // transparency log, committed state only
  logHead(): Promise<LogHead>;
  /** Leaves [start, end), in order (fewer if the log is shorter). */
  logLeaves(start: number, end: number): Promise<LogLeafRow[]>;
  /** The leaves at `indexes`, in one read, in any order (those past the log's end are absent). */
  logLeavesAt(indexes: readonly number[]): Promise<LogLeafRow[]>;
  /** Index of the first leaf with this leaf hash. */
  logLeafIndex(hash: Uint8Array): Promise<number | undefined>;
  /** Hashes of complete, aligned subtrees [start, end) (end - start a power of two), in order. */
  logSubtrees(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]>;
  latestCheckpoint(): Promise<LogCheckpointRow | undefined>;
  /** The newest checkpoint that carries at least one cosignature. */
  latestCosignedCheckpoint(): Promise<LogCheckpointRow | undefined>;
  checkpointAt(size: number): Promise<LogCheckpointRow | undefined>;
  witnessedLogs(): Promise<WitnessedRow[]>;
  logForks(): Promise<LogForkRow[]>;
  close(): Promise<void>;
}
