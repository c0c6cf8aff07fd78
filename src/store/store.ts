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
} as const;
export type MappingState = (typeof MappingState)[keyof typeof MappingState];

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

export interface HolderKey {
  csi: string;
  key: string;
  group: string;
  retired: boolean;
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

/** Operations inside one atomic write; either all of them land or none. */
export interface StoreTx {
  liveMappings(csi: string): Promise<StoredMapping[]>;
  mapping(id: string): Promise<StoredMapping | undefined>;
  mappingByBodyDigest(bodyDigest: string): Promise<StoredMapping | undefined>;
  insertMapping(row: StoredMapping): Promise<void>;
  /** Moves mappings to `state`; `contestDeadline` is kept only for contested ones. */
  setState(ids: readonly string[], state: MappingState, now: number, contestDeadline?: number): Promise<void>;
  holderKey(csi: string, key: string): Promise<HolderKey | undefined>;
  insertHolderKey(row: HolderKey): Promise<void>;
  retireHolderKey(csi: string, key: string): Promise<void>;
  /** Records a signed request's id; false when it was seen before (replay). */
  rememberRequest(id: string, expiresAt: number): Promise<boolean>;
  csisWithDueContests(now: number): Promise<string[]>;
  insertChallenge(row: Challenge): Promise<void>;
  challenge(id: string): Promise<Challenge | undefined>;
  updateChallenge(id: string, attempts: number, state: ChallengeState): Promise<void>;
  countRecentChallenges(csi: string, since: number): Promise<number>;
}

export interface Store {
  readonly backend: string;
  /** Run `fn` as one serialisable transaction; a thrown error rolls everything back. */
  write<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Served mappings of each CSI: active and unexpired at `now`, from committed state only. */
  activeMappings(csis: readonly string[], now: number): Promise<Map<string, StoredMapping[]>>;
  mapping(id: string): Promise<StoredMapping | undefined>;
  stats(): Promise<{ mappings: number; active: number }>;
  close(): Promise<void>;
}
