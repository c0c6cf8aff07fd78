import { randomBytes } from 'node:crypto';
import { canonicalize } from '../crypto/jcs.js';
import type { KeyPair } from '../crypto/keys.js';
import { sha256 } from '../crypto/sign.js';
import type { FederationEventKind, Mapping, NoticeKind } from '../protocol/records.js';
import type { Registry } from '../registry/document.js';
import type { TrustPolicy } from '../registry/policy.js';
import type { VerifyContext } from '../registry/verify-mapping.js';
import type { CsiState, MappingState, Store, StoredMapping, StoreTx } from '../store/store.js';
import { type Effects, liveAt, type PendingNotice } from './precedence.js';
import type { LogEntry } from './transparency-log.js';

export interface DiscoveryProviderOptions {
  id: string;
  key: KeyPair;
  store: Store;
  /** The registry in force; called per request so a refresh takes effect at once. */
  registry: () => Registry;
  policy: TrustPolicy;
  /**
   * How long an incumbent holder has to prove possession again once contested (R17); the
   * resolved config's policy.contestWindowSeconds (src/server/config-defaults.ts).
   */
  contestWindowSeconds: number;
  now: () => number;
  /**
   * Called inside the write transaction of every change that may alter what a CSI serves
   * (accept, supersede, opt-out, invalidate, contest resolution), so derived indexes such as the
   * private index (R9) commit or roll back together with the mappings.
   */
  onServedChange?: (tx: StoreTx, csis: readonly string[], now: number) => Promise<void>;
  /**
   * Called inside the write transaction with what peers (R18) and MSPs (notices) must hear, so
   * the outbox commits with the change it announces.
   */
  onEvent?: (tx: StoreTx, event: DpEvent) => Promise<void>;
  /**
   * The transparency log (R3, R28): every accepted mapping, replacement, opt-out, invalidation,
   * key rotation, contest, contest resolution and CSIP removal appends a leaf inside the write
   * transaction of the change; a mapping's `logIndex` is its leaf's index, signed by the DP.
   */
  log?: DpLog;
}

/** What the provider needs of the log (TransparencyLog implements it). */
export interface DpLog {
  /** The index the next leaf appended in `tx` gets. */
  nextIndex(tx: StoreTx): Promise<number>;
  append(tx: StoreTx, entry: LogEntry): Promise<number>;
}

/** What the DP wants delivered: a federation event (to every peer, or `to` one), or an MSP notice. */
export type DpEvent =
  | { kind: 'federation'; event: { kind: FederationEventKind; payload: unknown; to?: string } }
  | { kind: 'notice'; notice: { msp: string; kind: NoticeKind; mappingId: string; deadline: number | null } };

/** Holder requests relayed by a peer are applied however old they are; replays still fail. */
export interface ApplyOptions {
  relayed?: boolean;
}

export interface AcceptResult {
  id: string;
  state: typeof MappingState.Active | typeof MappingState.Contested;
  mapping: Mapping;
  /** The mapping's canonical JSON, as stored and served. */
  json: string;
  /** True when this exact body was accepted before and the earlier answer is returned. */
  duplicate: boolean;
}

export const day = 86_400;

/**
 * What every capability of the provider shares (accept, holder requests, CSIP events, contests):
 * its options and clock, and the plumbing that applies a decision inside a transaction: state
 * transitions, notices and federation events to the outbox, log leaves, derived indexes.
 * Decisions themselves are in precedence.ts.
 */
export class DpCore {
  readonly id: string;
  readonly opts: DiscoveryProviderOptions;
  readonly now: () => number;

  constructor(opts: DiscoveryProviderOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.now = opts.now;
  }

  get contestWindow(): number {
    return this.opts.contestWindowSeconds;
  }

  context(): VerifyContext {
    return { registry: this.opts.registry(), policy: this.opts.policy, now: this.now() };
  }

  /** The CSI's live rows: active or contested, and not expired at `now`. */
  async liveOf(tx: StoreTx, csi: string, now: number): Promise<StoredMapping[]> {
    return liveAt(await tx.liveMappings(csi), now);
  }

  /**
   * What a new mapping of `holderKey` is judged against, in one read: an earlier submission of
   * the same body, the CSI's CSIP cutoff (R16), the key's row, the live rows (R17).
   */
  async readCsi(
    tx: StoreTx,
    csi: string,
    holderKey: string,
    bodyDigest: string,
    now: number,
  ): Promise<CsiState> {
    const state = await tx.csiState(csi, holderKey, bodyDigest);
    return { ...state, live: liveAt(state.live, now) };
  }

  /** A decision's transitions in order, then its notices in order. */
  async apply(tx: StoreTx, effects: Effects, now: number): Promise<void> {
    for (const t of effects.transitions) await tx.setState(t.ids, t.to, now, t.contestDeadline);
    await this.notify(tx, effects.notices);
  }

  async emit(tx: StoreTx, event: DpEvent): Promise<void> {
    await this.opts.onEvent?.(tx, event);
  }

  /** R18: a holder request or CSIP event applied here goes to every peer, unless a peer relayed it. */
  async relay(tx: StoreTx, kind: FederationEventKind, payload: unknown, opts: ApplyOptions): Promise<void> {
    if (!opts.relayed) await this.emit(tx, { kind: 'federation', event: { kind, payload } });
  }

  /** Notices go to the MSP of each mapping concerned; they carry the mapping id and nothing else. */
  async notify(tx: StoreTx, notices: readonly PendingNotice[]): Promise<void> {
    for (const notice of notices) await this.emit(tx, { kind: 'notice', notice });
  }

  async servedChanged(tx: StoreTx, csi: string, now: number): Promise<void> {
    await this.opts.onServedChange?.(tx, [csi], now);
  }

  /** Appends a leaf committing to a record's canonical JSON (R3); its index, or undefined without a log. */
  async logRecord(
    tx: StoreTx,
    kind: LogEntry['kind'],
    csi: string,
    time: number,
    canonicalJson: string,
  ): Promise<number | undefined> {
    return this.opts.log?.append(tx, { kind, csi, time, commitment: sha256(canonicalJson) });
  }

  /**
   * A change with no signed record of its own (contests, their outcome): the leaf commits to a
   * statement of it. R28: the statement names mapping ids found in other leaves, so a random nonce
   * keeps anyone from recomputing it and linking the contest to the mapping leaves of one CSI.
   */
  async logStatement(
    tx: StoreTx,
    kind: LogEntry['kind'],
    csi: string,
    time: number,
    statement: Record<string, unknown>,
  ): Promise<void> {
    if (this.opts.log === undefined) return;
    const nonce = randomBytes(16).toString('base64url');
    await this.logRecord(
      tx,
      kind,
      csi,
      time,
      canonicalize({ v: 1, dp: this.id, at: time, nonce, ...statement }),
    );
  }
}
