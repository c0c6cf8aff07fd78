import type { PossessionLevel, PossessionMethod } from '../protocol/records.js';
import type {
  Challenge,
  ChallengeState,
  CsiState,
  HolderKey,
  LogCheckpointRow,
  LogForkRow,
  LogHead,
  LogLeafRow,
  MappingState,
  OprfEpoch,
  OprfEpochState,
  OutboxItem,
  ServedStoredMapping,
  StoredMapping,
  WitnessedRow,
} from './store.js';

/** A mapping row as both backends store it; `opt_out` is 0/1 in SQLite, a boolean in PostgreSQL. */
export interface MappingRow {
  id: string;
  csi: string;
  holder_group: string;
  holder_key: string;
  msp: string | null;
  tag: string;
  priority: number;
  opt_out: number | boolean;
  level: string;
  state: string;
  accepted_at: number;
  expires_at: number;
  contest_deadline: number | null;
  body_digest: string;
  json: string;
}

export const mappingColumns =
  'id, csi, holder_group, holder_key, msp, tag, priority, opt_out, level, state, accepted_at, expires_at, contest_deadline, body_digest, json';
/** What a lookup answer needs of a row (see ServedStoredMapping). */
export const servedColumns =
  'id, csi, holder_key, msp, tag, priority, opt_out, level, accepted_at, expires_at, json';
/** The same without the signed record, for answers that do not carry it (compact: R15). */
export const servedColumnsWithoutJson =
  "id, csi, holder_key, msp, tag, priority, opt_out, level, accepted_at, expires_at, '' AS json";
export type ServedRow = Pick<
  MappingRow,
  | 'id'
  | 'csi'
  | 'holder_key'
  | 'msp'
  | 'tag'
  | 'priority'
  | 'opt_out'
  | 'level'
  | 'accepted_at'
  | 'expires_at'
  | 'json'
>;

export function toServed(r: ServedRow): ServedStoredMapping {
  return {
    id: r.id,
    json: r.json,
    holderKey: r.holder_key,
    msp: r.msp,
    tag: r.tag,
    priority: r.priority,
    acceptedAt: r.accepted_at,
    expiresAt: r.expires_at,
    level: r.level as PossessionLevel,
    optOut: r.opt_out === true || r.opt_out === 1,
  };
}

export function toMapping(r: MappingRow): StoredMapping {
  return {
    ...toServed(r),
    csi: r.csi,
    holderGroup: r.holder_group,
    state: r.state as MappingState,
    expiresAt: r.expires_at,
    contestDeadline: r.contest_deadline,
    bodyDigest: r.body_digest,
  };
}

/**
 * StoreTx.csiState as one statement, the same text on both backends: four reads in one UNION
 * ALL, each row tagged with the `part` it answers. The first branch types the extra columns
 * (PostgreSQL resolves a UNION's NULLs pairwise from the left), the holder key's row brings its
 * CSI and key in the mapping columns of the same name, and the live rows come in liveMappings'
 * order. Parameters: body digest, CSI (three times), holder key.
 */
/** A CSI's live rows (liveMappings, csiState). */
export const liveWhere = "csi = ? AND state IN ('active', 'contested')";
/** A CSI's events that void possession proved before them (csipCutoff, csiState: R16). */
export const cutoffWhere = "csi = ? AND kind IN ('disconnected', 'reassigned')";
/** One holder key of a CSI (holderKey, csiState). */
export const holderKeyWhere = 'csi = ? AND key = ?';

const noMapping = (cols: Partial<Record<string, string>>) =>
  mappingColumns
    .split(', ')
    .map((c) => cols[c] ?? 'NULL')
    .join(', ');
const csiStateBranches = [
  `SELECT 'digest' AS part, ${mappingColumns}, CAST(NULL AS BIGINT) AS cutoff, CAST(NULL AS TEXT) AS grp, CAST(NULL AS BOOLEAN) AS retired FROM mappings WHERE body_digest = ?`,
  `SELECT 'live', ${mappingColumns}, NULL, NULL, NULL FROM mappings WHERE ${liveWhere}`,
  `SELECT 'cutoff', ${noMapping({})}, MAX(at), NULL, NULL FROM csip_events WHERE ${cutoffWhere}`,
  `SELECT 'key', ${noMapping({ csi: 'csi', holder_key: 'key' })}, NULL, grp, retired FROM holder_keys WHERE ${holderKeyWhere}`,
];
export const csiStateSql = `${csiStateBranches.join(' UNION ALL ')} ORDER BY part, accepted_at, id`;

type CsiStateRow = MappingRow & {
  part: 'digest' | 'live' | 'cutoff' | 'key';
  cutoff: number | null;
  grp: string | null;
  retired: number | boolean | null;
};

export function toCsiState(rs: CsiStateRow[]): CsiState {
  const state: CsiState = { earlier: undefined, cutoff: null, key: undefined, live: [] };
  for (const r of rs) {
    if (r.part === 'digest') state.earlier = toMapping(r);
    else if (r.part === 'live') state.live.push(toMapping(r));
    else if (r.part === 'cutoff') state.cutoff = r.cutoff;
    else state.key = toHolderKey({ csi: r.csi, key: r.holder_key, grp: r.grp!, retired: r.retired! });
  }
  return state;
}

/** An OPRF epoch row as both backends store it (same column names and types). */
export interface EpochRow {
  id: number;
  state: string;
  sealed_key: Buffer;
  public_key: Buffer;
  bucket_bits: number;
  pad_to: number;
  dummy_length: number;
  min_bucket: number | null;
  build_cursor: string | null;
  created_at: number;
  activated_at: number | null;
  retire_at: number | null;
}

export function toEpoch(r: EpochRow): OprfEpoch {
  return {
    id: r.id,
    state: r.state as OprfEpochState,
    sealedKey: new Uint8Array(r.sealed_key),
    publicKey: new Uint8Array(r.public_key),
    bucketBits: r.bucket_bits,
    padTo: r.pad_to,
    dummyLength: r.dummy_length,
    minBucket: r.min_bucket,
    buildCursor: r.build_cursor,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    retireAt: r.retire_at,
  };
}

/** Epoch fields that may be updated, and their columns. */
export const epochColumns: Record<string, string> = {
  state: 'state',
  bucketBits: 'bucket_bits',
  padTo: 'pad_to',
  dummyLength: 'dummy_length',
  minBucket: 'min_bucket',
  buildCursor: 'build_cursor',
  activatedAt: 'activated_at',
  retireAt: 'retire_at',
};

// Columns named, never `*`: a prepared `SELECT *` fails on every open PostgreSQL connection
// ("cached plan must not change result type") once a newer node's migration adds a column
// (rolling upgrade).
export const epochSelect =
  'id, state, sealed_key, public_key, bucket_bits, pad_to, dummy_length, min_bucket, build_cursor, created_at, activated_at, retire_at';
export const challengeColumns =
  'id, csi, holder_key, method, code_hash, created_at, expires_at, attempts, state';

/** A holder key row; `retired` is 0/1 in SQLite, a boolean in PostgreSQL. */
export const toHolderKey = (r: {
  csi: string;
  key: string;
  grp: string;
  retired: number | boolean;
}): HolderKey => ({
  csi: r.csi,
  key: r.key,
  group: r.grp,
  retired: r.retired === true || r.retired === 1,
});

export const toOutboxItem = (r: {
  id: number;
  target: string;
  event_id: string;
  body: string;
  attempts: number;
  next_at: number;
}): OutboxItem => ({
  id: r.id,
  target: r.target,
  eventId: r.event_id,
  body: r.body,
  attempts: r.attempts,
  nextAt: r.next_at,
});

/** A challenge row as both backends store it. */
export function toChallenge(r: Record<string, unknown>): Challenge {
  return {
    id: r.id as string,
    csi: r.csi as string,
    holderKey: r.holder_key as string,
    method: r.method as PossessionMethod,
    codeHash: r.code_hash as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    attempts: r.attempts as number,
    state: r.state as ChallengeState,
  };
}

/** A byte array as the drivers bind it, without a copy. */
export const bytesOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * A declared statement's parameters as a driver binds them (contract.ts), in place (each call
 * of a statement's params makes a fresh array): byte arrays as Buffers over the same bytes (a
 * view must bind only its own bytes), and, for SQLite, which has no boolean, flags as 0/1.
 */
export function bindParams(values: readonly unknown[], booleans: 'int' | 'bool'): unknown[] {
  const out = values as unknown[];
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v instanceof Uint8Array) out[i] = bytesOf(v);
    else if (booleans === 'int' && typeof v === 'boolean') out[i] = v ? 1 : 0;
  }
  return out;
}

// Transparency-log rows (migration 4), the same columns on both backends.

const HASH = 32;
/** Node ids: level * 2^47 + index keeps every id a safe integer for trees up to 2^47 leaves. */
const LEVEL_STRIDE = 2 ** 47;

export function nodeId(level: number, index: number): number {
  return level * LEVEL_STRIDE + index;
}

/** The head row's edge: the compact range's roots, 32 bytes each, concatenated. */
export function toHead(r: { size: number; edge: Buffer } | undefined): LogHead {
  if (r === undefined) return { size: 0, edge: [] };
  const edge: Uint8Array[] = [];
  for (let at = 0; at + HASH <= r.edge.length; at += HASH)
    edge.push(new Uint8Array(r.edge.subarray(at, at + HASH)));
  return { size: r.size, edge };
}

export const edgeOf = (head: LogHead): Buffer => Buffer.concat(head.edge.map(bytesOf));

export interface LeafDbRow {
  idx: number;
  hash: Buffer;
  data: Buffer;
  time: number;
}

export const toLeaf = (r: LeafDbRow): LogLeafRow => ({
  index: r.idx,
  hash: new Uint8Array(r.hash),
  data: new Uint8Array(r.data),
  time: r.time,
});

export const checkpointColumns = 'size, root, note, created_at';

export interface CheckpointDbRow {
  size: number;
  root: Buffer;
  note: string;
  created_at: number;
}

export const toCheckpoint = (r: CheckpointDbRow, cosignatures: string[]): LogCheckpointRow => ({
  size: r.size,
  rootHash: new Uint8Array(r.root),
  note: r.note,
  createdAt: r.created_at,
  cosignatures,
});

export const witnessedColumns = 'dp, size, root, note, seen_at';

export interface WitnessedDbRow {
  dp: string;
  size: number;
  root: Buffer;
  note: string;
  seen_at: number;
}

export const toWitnessed = (r: WitnessedDbRow): WitnessedRow => ({
  dp: r.dp,
  size: r.size,
  rootHash: new Uint8Array(r.root),
  note: r.note,
  seenAt: r.seen_at,
});

export const forkColumns = 'id, dp, detected_at, reason, evidence';

export interface ForkDbRow {
  id: number;
  dp: string;
  detected_at: number;
  reason: string;
  evidence: string;
}

export const toFork = (r: ForkDbRow): LogForkRow => ({
  id: r.id,
  dp: r.dp,
  detectedAt: r.detected_at,
  reason: r.reason,
  evidence: r.evidence,
});

/** Rows of many CSIs, keyed by CSI: every CSI asked is a key, in the order asked, rows in the order read. */
export function byCsi<R extends { csi: string }, T>(
  csis: readonly string[],
  rows: Iterable<R>,
  codec: (r: R) => T,
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const csi of csis) out.set(csi, []);
  for (const r of rows) out.get(r.csi)?.push(codec(r));
  return out;
}
