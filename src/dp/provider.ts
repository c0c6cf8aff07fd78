import { createHash, randomBytes } from 'node:crypto';
import { canonicalize } from '../crypto/jcs.js';
import type { KeyPair } from '../crypto/keys.js';
import { digest, SignPurpose, sha256, signCanonical, verifyObject } from '../crypto/sign.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { assertCanonicalCsi } from '../protocol/identifiers.js';
import { olderFirst } from '../protocol/preference.js';
import {
  type CsipEvent,
  DefaultTag,
  FederationEventKind,
  type HolderRead,
  type Invalidation,
  type KeyRotation,
  levelRank,
  type Mapping,
  type MappingSubmission,
  NoticeKind,
  type PseudonymRequest,
  type Reaffirmation,
} from '../protocol/records.js';
import { csipCovers, type Registry } from '../registry/document.js';
import { defaultClockSkew, type TrustPolicy } from '../registry/policy.js';
import {
  isOptOut,
  type VerifyContext,
  verifyAttestation,
  verifyHolderAndMsp,
  verifyMapping,
} from '../registry/verify-mapping.js';
import { MappingState, type Store, type StoredMapping, type StoreTx } from '../store/store.js';
import { LogLeafKind } from '../tlog/leaf.js';
import type { LogEntry } from './transparency-log.js';

export interface DiscoveryProviderOptions {
  id: string;
  key: KeyPair;
  store: Store;
  /** The registry in force; called per request so a refresh takes effect at once. */
  registry: () => Registry;
  policy: TrustPolicy;
  /** How long an incumbent holder has to prove possession again once contested (R17). */
  contestWindowSeconds?: number;
  /** How old a holder-signed request may be before it is refused as stale. */
  requestMaxAgeSeconds?: number;
  now?: () => number;
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

const day = 86_400;

/**
 * Discovery-provider logic, free of HTTP: accepting mappings after every check (R1-R6, R21),
 * precedence between holders (R17), holder invalidation, replacement and key rotation (R19),
 * opt-out (R14, R25). Every change of state happens inside one store transaction.
 */
export class DiscoveryProvider {
  readonly id: string;
  private readonly opts: DiscoveryProviderOptions;
  private readonly now: () => number;

  constructor(opts: DiscoveryProviderOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.now = opts.now ?? nowSeconds;
  }

  get contestWindow(): number {
    return this.opts.contestWindowSeconds ?? 7 * day;
  }

  private context(): VerifyContext {
    return { registry: this.opts.registry(), policy: this.opts.policy, now: this.now() };
  }

  /** R3: check a holder- and MSP-signed mapping (or a holder's opt-out), apply precedence, countersign. */
  async accept(sub: MappingSubmission): Promise<AcceptResult> {
    const ctx = this.context();
    const { now, registry } = ctx;
    const canonical = verifyHolderAndMsp(sub, ctx, { submission: true });
    const { body, attestation } = sub;
    if (body.expiresAt - now > registry.doc.policy.maxMappingLifetime) {
      throw new MimiError(
        'mapping-lifetime-too-long',
        `mappings may live at most ${registry.doc.policy.maxMappingLifetime} s`,
      );
    }
    if (this.opts.policy.requireIndependentVerifier) {
      const self = registry.dp(this.id);
      if (self !== undefined && registry.issuer(attestation.issuer)?.entry.operator === self.operator) {
        throw new MimiError('verifier-not-independent', 'the verifier is run by this DP operator');
      }
    }
    const optOut = isOptOut(body);
    // Each part is canonicalised once, in verifyHolderAndMsp; the mapping's canonical JSON is
    // spliced from them (canonicalMappingJson), signed, stored and answered as it is.
    const bodyDigest = sha256(canonical.body).toString('base64url');

    return this.opts.store.write(async (tx) => {
      const earlier = await tx.mappingByBodyDigest(bodyDigest);
      if (earlier !== undefined) {
        // R14, R19: what its holder withdrew here (replaced, opted out of, invalidated) stays withdrawn.
        if (earlier.state === MappingState.Superseded || earlier.state === MappingState.Invalidated) {
          throw new MimiError('record-stale', `this body was accepted before and is now ${earlier.state}`);
        }
        return this.resultOf(earlier, true);
      }
      const cutoff = await tx.csipCutoff(body.csi);
      // A proof made in the very second of the event is as void as an older one.
      if (cutoff !== null && attestation.issuedAt <= cutoff) {
        throw new MimiError(
          'attestation-superseded',
          'the number was disconnected or reassigned after this proof (R16)',
        );
      }
      const key = await tx.holderKey(body.csi, body.holderKey);
      if (key?.retired) throw new MimiError('holder-key-retired', 'this holder key was rotated out (R19)');
      const group = key?.group ?? body.holderKey;
      const live = await liveOf(tx, body.csi, now);
      const mine = live.filter((m) => m.holderGroup === group);
      // R14, R19, R25: bodies are public (lookup answers carry them), so an old one could be posted
      // again, here or at another DP, to withdraw what the holder published since. A holder's body
      // older than its newest live one for the CSI is refused.
      const newest = newestCreatedAt(mine);
      if (body.createdAt < newest) {
        throw new MimiError('record-stale', `the holder has a newer body for this CSI (created ${newest})`);
      }

      const superseded: string[] = [];
      if (body.supersedes !== null) {
        const target = mine.find((m) => m.id === body.supersedes);
        if (target === undefined) {
          throw new MimiError('supersedes-invalid', 'supersedes names no live mapping of this holder (R19)');
        }
        superseded.push(target.id);
      }
      if (!optOut) {
        const kept = mine.filter((m) => !superseded.includes(m.id) && !m.optOut);
        // R7: one Default per holder and CSI; a second one must replace the first.
        if (body.tag === DefaultTag && kept.some((m) => m.tag === DefaultTag)) {
          throw new MimiError('default-tag-taken', 'this holder already has a Default mapping; supersede it');
        }
        if (kept.some((m) => m.msp === body.msp && m.tag === body.tag)) {
          throw new MimiError(
            'mapping-exists',
            `a mapping on ${body.msp} with tag ${body.tag} exists; supersede it`,
          );
        }
      }

      const unsigned: Mapping = {
        v: 1,
        body,
        attestation,
        holderSig: sub.holderSig,
        mspSig: optOut ? null : sub.mspSig,
        dp: this.id,
        acceptedAt: now,
        // R3: the leaf's index is known before the DP signs (one writer at a time).
        logIndex: this.opts.log === undefined ? null : await this.opts.log.nextIndex(tx),
      };
      const parts = {
        ...canonical,
        holderSig: sub.holderSig,
        mspSig: unsigned.mspSig,
        dp: this.id,
        now,
        logIndex: unsigned.logIndex,
      };
      const dpSig = signCanonical(
        SignPurpose.MappingDp,
        canonicalMappingJson(parts, undefined),
        this.opts.key.privateKey,
      );
      const mapping: Mapping = { ...unsigned, dpSig };
      const row = this.rowOf(mapping, group, bodyDigest, canonicalMappingJson(parts, dpSig));
      const kind = optOut
        ? LogLeafKind.OptOut
        : body.supersedes !== null
          ? LogLeafKind.Replacement
          : LogLeafKind.Mapping;
      const at = await this.logRecord(tx, kind, body.csi, now, row.json);
      if ((at ?? null) !== unsigned.logIndex) {
        throw new MimiError('internal', 'the log index moved under the signature');
      }
      // R17: the incumbent (older) holder keeps precedence unless the newcomer's proof is stricter.
      const state = await this.place(tx, row, live, now, false);
      if (state === MappingState.Contested) {
        await this.logStatement(tx, LogLeafKind.Contest, body.csi, now, {
          event: 'contest',
          mapping: row.id,
          deadline: row.contestDeadline,
        });
      }
      if (state === MappingState.Active) {
        const stillActive = mine.filter((m) => !superseded.includes(m.id));
        // R14, R25: an opt-out withdraws the holder's mappings; a new mapping withdraws the opt-out.
        superseded.push(...ids(stillActive.filter((m) => (optOut ? true : m.optOut))));
      }
      await tx.setState(superseded, MappingState.Superseded, now);
      if (key === undefined) {
        await tx.insertHolderKey({ csi: body.csi, key: body.holderKey, group, retired: false });
        // R18: a new holder for this CSI: every peer applies R17 to what it holds.
        await this.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.Mapping, payload: mapping },
        });
      }
      await tx.insertMapping(row);
      await this.opts.onServedChange?.(tx, [body.csi], now);
      return {
        id: row.id,
        state: row.state as AcceptResult['state'],
        mapping,
        json: row.json,
        duplicate: false,
      };
    });
  }

  /**
   * R18, R17: a peer announced a new holder's mapping (or answered ours with an older holder).
   * It is verified in full, kept as a copy, and takes its place by the same precedence rules, the
   * older holder being the one accepted first wherever that was. When we hold the older holder, we
   * tell the origin, so both DPs reach the same state.
   */
  async acceptForeign(
    mapping: Mapping,
    origin: string,
  ): Promise<{ state: MappingState | 'ignored'; duplicate: boolean }> {
    const ctx = this.context();
    verifyMapping(mapping, ctx);
    const { body, attestation } = mapping;
    const bodyDigest = digest(body);
    const now = ctx.now;
    return this.opts.store.write(async (tx) => {
      if ((await tx.mappingByBodyDigest(bodyDigest)) !== undefined)
        return { state: 'ignored' as const, duplicate: true };
      const cutoff = await tx.csipCutoff(body.csi);
      if (cutoff !== null && attestation.issuedAt <= cutoff)
        return { state: 'ignored' as const, duplicate: false };
      const key = await tx.holderKey(body.csi, body.holderKey);
      if (key?.retired) return { state: 'ignored' as const, duplicate: false };
      const group = key?.group ?? body.holderKey;
      const live = await liveOf(tx, body.csi, now);
      // R18: peers apply the rules to what they hold; holding nothing for this CSI, there is no contest.
      if (live.length === 0 || live.every((m) => m.holderGroup === group)) {
        return { state: 'ignored' as const, duplicate: false };
      }
      const row = this.rowOf(mapping, group, bodyDigest);
      const state = await this.place(tx, row, live, now, true);
      // R17 across DPs: the peer's holder contests ours, or ours now contests the peer's.
      await this.logStatement(tx, LogLeafKind.Contest, body.csi, now, {
        event: 'contest',
        mapping: row.id,
        origin,
        state,
      });
      if (key === undefined)
        await tx.insertHolderKey({ csi: body.csi, key: body.holderKey, group, retired: false });
      await tx.insertMapping(row);
      if (state === MappingState.Contested) {
        // We hold the older holder: say so to the origin, which then holds ours as the incumbent.
        const incumbent = live
          .filter((m) => m.state === MappingState.Active)
          .sort((a, b) => a.acceptedAt - b.acceptedAt)[0];
        if (incumbent !== undefined) {
          await this.emit(tx, {
            kind: 'federation',
            event: { kind: FederationEventKind.Mapping, payload: JSON.parse(incumbent.json), to: origin },
          });
        }
      }
      await this.opts.onServedChange?.(tx, [body.csi], now);
      return { state, duplicate: false };
    });
  }

  private rowOf(
    mapping: Mapping,
    group: string,
    bodyDigest: string,
    json = canonicalize(mapping),
  ): StoredMapping {
    const { body } = mapping;
    return {
      id: createHash('sha256').update(json).digest('base64url'),
      csi: body.csi,
      holderGroup: group,
      holderKey: body.holderKey,
      msp: body.msp,
      tag: body.tag,
      priority: body.priority,
      optOut: isOptOut(body),
      level: mapping.attestation.level,
      state: MappingState.Active,
      acceptedAt: mapping.acceptedAt,
      expiresAt: body.expiresAt,
      contestDeadline: null,
      bodyDigest,
      json,
    };
  }

  /**
   * R17 between the holder of `row` and the incumbent holder of the CSI: a stricter possession
   * proof wins at once; otherwise the older holder keeps precedence and the newer one is held
   * as contested until its window ends. Sets `row.state` and returns it; moves the incumbent's
   * mappings when they lose, and tells their MSPs.
   */
  private async place(
    tx: StoreTx,
    row: StoredMapping,
    live: readonly StoredMapping[],
    now: number,
    foreign: boolean,
  ): Promise<MappingState> {
    const mine = live.filter((m) => m.holderGroup === row.holderGroup);
    const active = live.filter((m) => m.state === MappingState.Active);
    const incumbent = active[0]?.holderGroup;
    if (incumbent === undefined || incumbent === row.holderGroup) {
      row.state = MappingState.Active;
      return row.state;
    }
    const incumbentLevel = Math.max(...active.map((m) => levelRank[m.level]));
    const incumbentFirst = active.reduce((a, b) => (olderFirst(b, a) < 0 ? b : a));
    const newcomerLevel = levelRank[row.level];
    if (newcomerLevel > incumbentLevel) {
      await tx.setState(ids(active), MappingState.Displaced, now);
      await this.notify(tx, active, NoticeKind.Displaced, null);
      await tx.setState(
        ids(mine.filter((m) => m.state === MappingState.Contested)),
        MappingState.Active,
        now,
      );
      row.state = MappingState.Active;
      return row.state;
    }
    const deadline =
      mine.find((m) => m.contestDeadline !== null)?.contestDeadline ?? now + this.contestWindow;
    if (foreign && newcomerLevel === incumbentLevel && olderFirst(row, incumbentFirst) < 0) {
      // The peer's holder was accepted first: ours becomes the contender.
      await tx.setState(ids(active), MappingState.Contested, now, deadline);
      await this.notify(tx, active, NoticeKind.Contested, deadline);
      row.state = MappingState.Active;
      return row.state;
    }
    row.state = MappingState.Contested;
    row.contestDeadline = deadline;
    await this.notify(tx, active, NoticeKind.Contested, deadline);
    return row.state;
  }

  private async emit(tx: StoreTx, event: DpEvent): Promise<void> {
    await this.opts.onEvent?.(tx, event);
  }

  /** Notices go to the MSP of each mapping concerned; they carry the mapping id and nothing else. */
  private async notify(
    tx: StoreTx,
    rows: readonly StoredMapping[],
    kind: NoticeKind,
    deadline: number | null,
  ): Promise<void> {
    for (const m of rows) {
      if (m.msp !== null)
        await this.emit(tx, { kind: 'notice', notice: { msp: m.msp, kind, mappingId: m.id, deadline } });
    }
  }

  private resultOf(row: StoredMapping, duplicate: boolean): AcceptResult {
    const state = row.state === MappingState.Contested ? MappingState.Contested : MappingState.Active;
    return { id: row.id, state, mapping: JSON.parse(row.json) as Mapping, json: row.json, duplicate };
  }

  /** Appends a leaf committing to a record's canonical JSON (R3); its index, or undefined without a log. */
  private async logRecord(
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
  private async logStatement(
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

  /** Checks the CSI and the freshness of a holder request (relayed ones may be old: replays still fail). */
  private checkRequest(issuedAt: number, csi: string, opts: ApplyOptions): void {
    assertCanonicalCsi(csi);
    const maxAge = this.opts.requestMaxAgeSeconds ?? 300;
    if (!opts.relayed && Math.abs(this.now() - issuedAt) > maxAge) {
      throw new MimiError('request-stale', `holder requests must be signed within ${maxAge} s of now`);
    }
    if (issuedAt > this.now() + maxAge)
      throw new MimiError('request-stale', 'this request is signed in the future');
  }

  private async once(tx: StoreTx, request: unknown, issuedAt: number): Promise<void> {
    const maxAge = this.opts.requestMaxAgeSeconds ?? 300;
    // Relayed requests can arrive late, so ids are kept long enough to outlast any retry.
    if (
      !(await tx.rememberRequest(digest(request), Math.max(issuedAt, this.now()) + 30 * day + 2 * maxAge))
    ) {
      throw new MimiError('replayed', 'this signed request was already used');
    }
  }

  /** R19, R25: the holder withdraws one mapping, or all of its mappings for the CSI. */
  async invalidate(inv: Invalidation, opts: ApplyOptions = {}): Promise<{ invalidated: string[] }> {
    this.checkRequest(inv.issuedAt, inv.csi, opts);
    const { sig, ...unsigned } = inv;
    if (!verifyObject(SignPurpose.Invalidation, unsigned, sig, inv.holderKey)) {
      throw new MimiError('request-signature-invalid', 'the invalidation is not signed by its holder key');
    }
    const now = this.now();
    return this.opts.store.write(async (tx) => {
      const key = await this.currentKey(tx, inv.csi, inv.holderKey);
      await this.once(tx, inv, inv.issuedAt);
      // A withdrawal covers what the holder had published when signing it, not later mappings.
      const skew = this.opts.policy.clockSkew ?? defaultClockSkew;
      const mine = (await liveOf(tx, inv.csi, now)).filter(
        (m) => m.holderGroup === key.group && m.acceptedAt <= inv.issuedAt + skew,
      );
      const targets = inv.target === null ? mine : mine.filter((m) => m.id === inv.target);
      if (targets.length === 0)
        throw new MimiError('mapping-not-found', 'no live mapping of this holder matches');
      await tx.setState(ids(targets), MappingState.Invalidated, now);
      await this.logRecord(tx, LogLeafKind.Invalidation, inv.csi, now, canonicalize(inv));
      await this.promoteIfVacant(tx, inv.csi, now);
      await this.opts.onServedChange?.(tx, [inv.csi], now);
      if (!opts.relayed)
        await this.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.Invalidation, payload: inv },
        });
      return { invalidated: ids(targets) };
    });
  }

  /**
   * R19: the holder moves to a new key, signed by both. The new key inherits the old one's
   * precedence; the old key can do nothing more. Mappings signed by the old key stay valid until
   * the holder replaces or invalidates them.
   */
  async rotateKey(rot: KeyRotation, opts: ApplyOptions = {}): Promise<void> {
    this.checkRequest(rot.issuedAt, rot.csi, opts);
    const { oldSig, newSig, ...unsigned } = rot;
    if (rot.oldKey === rot.newKey) throw new MimiError('record-invalid', 'the new key equals the old key');
    if (
      !verifyObject(SignPurpose.KeyRotation, unsigned, oldSig, rot.oldKey) ||
      !verifyObject(SignPurpose.KeyRotation, unsigned, newSig, rot.newKey)
    ) {
      throw new MimiError(
        'request-signature-invalid',
        'a key rotation must be signed by the old and the new key',
      );
    }
    await this.opts.store.write(async (tx) => {
      const old = await this.currentKey(tx, rot.csi, rot.oldKey);
      await this.once(tx, rot, rot.issuedAt);
      if ((await tx.holderKey(rot.csi, rot.newKey)) !== undefined) {
        throw new MimiError('record-invalid', 'the new key is already known for this CSI');
      }
      await tx.retireHolderKey(rot.csi, rot.oldKey);
      await tx.insertHolderKey({ csi: rot.csi, key: rot.newKey, group: old.group, retired: false });
      await this.logRecord(tx, LogLeafKind.KeyRotation, rot.csi, this.now(), canonicalize(rot));
      if (!opts.relayed)
        await this.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.KeyRotation, payload: rot },
        });
    });
  }

  /** R17: the incumbent proves possession again inside its window; the contest is lost. */
  async reaffirm(r: Reaffirmation, opts: ApplyOptions = {}): Promise<{ lost: string[] }> {
    this.checkRequest(r.issuedAt, r.csi, opts);
    const ctx = opts.relayed
      ? { ...this.context(), policy: { ...this.opts.policy, allowExpired: true } }
      : this.context();
    const { sig, ...unsigned } = r;
    if (!verifyObject(SignPurpose.Reaffirmation, unsigned, sig, r.holderKey)) {
      throw new MimiError('request-signature-invalid', 'the reaffirmation is not signed by its holder key');
    }
    verifyAttestation(r.attestation, ctx);
    if (r.attestation.csi !== r.csi || r.attestation.holderKey !== r.holderKey) {
      throw new MimiError('attestation-mismatch', 'the attestation is for another CSI or holder key');
    }
    return this.opts.store.write(async (tx) => {
      const key = await this.currentKey(tx, r.csi, r.holderKey);
      await this.once(tx, r, r.issuedAt);
      const live = await liveOf(tx, r.csi, ctx.now);
      if (!live.some((m) => m.holderGroup === key.group && m.state === MappingState.Active)) {
        throw new MimiError('mapping-not-found', 'this holder has no served mapping to defend');
      }
      // Only a proof made after a contest began answers it.
      const lost = live.filter(
        (m) =>
          m.state === MappingState.Contested &&
          m.holderGroup !== key.group &&
          m.acceptedAt <= r.attestation.issuedAt,
      );
      await tx.setState(ids(lost), MappingState.Lost, ctx.now);
      if (lost.length > 0) {
        await this.logStatement(tx, LogLeafKind.ContestResolution, r.csi, ctx.now, {
          event: 'reaffirmed',
          reaffirmation: digest(r),
          lost: ids(lost),
        });
      }
      if (!opts.relayed)
        await this.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.Reaffirmation, payload: r },
        });
      return { lost: ids(lost) };
    });
  }

  /**
   * R28: a holder reads one of its own mappings by id, in any state. The request is signed by a
   * current key of the mapping's holder (rotations included), fresh and used once. Every other
   * case (no such id, another CSI, another holder, a key rotated out) is answered undefined, as
   * for an id that does not exist, so the answer reveals nothing to anyone else.
   */
  async readForHolder(r: HolderRead): Promise<StoredMapping | undefined> {
    this.checkRequest(r.issuedAt, r.csi, {});
    const { sig, ...unsigned } = r;
    if (!verifyObject(SignPurpose.HolderRead, unsigned, sig, r.holderKey)) {
      throw new MimiError('request-signature-invalid', 'the read is not signed by its holder key');
    }
    return this.opts.store.write(async (tx) => {
      const row = await tx.mapping(r.mapping);
      if (row === undefined || row.csi !== r.csi) return undefined;
      const key = await tx.holderKey(r.csi, r.holderKey);
      if (key === undefined || key.retired || key.group !== row.holderGroup) return undefined;
      // Only a read that is answered is remembered: a refusal stores nothing.
      await this.once(tx, r, r.issuedAt);
      return row;
    });
  }

  /**
   * R28: whether a holder may be told its CSI's log pseudonym: a fresh, single-use request signed
   * by the holder key, with a current attestation (trusted verifier, unexpired, not voided by a
   * later CSIP event) for this CSI and this key. The pseudonym is per CSI, so a holder who proves
   * possession sees entries made with any key. A key rotated out for this CSI is refused.
   */
  async checkPossession(r: PseudonymRequest): Promise<void> {
    this.checkRequest(r.issuedAt, r.csi, {});
    const { sig, ...unsigned } = r;
    if (!verifyObject(SignPurpose.LogPseudonym, unsigned, sig, r.holderKey)) {
      throw new MimiError('request-signature-invalid', 'the request is not signed by its holder key');
    }
    verifyAttestation(r.attestation, this.context());
    if (r.attestation.csi !== r.csi || r.attestation.holderKey !== r.holderKey) {
      throw new MimiError('attestation-mismatch', 'the attestation is for another CSI or holder key');
    }
    await this.opts.store.write(async (tx) => {
      const cutoff = await tx.csipCutoff(r.csi);
      if (cutoff !== null && r.attestation.issuedAt <= cutoff) {
        throw new MimiError(
          'attestation-superseded',
          'the number was disconnected or reassigned after this proof (R16)',
        );
      }
      if ((await tx.holderKey(r.csi, r.holderKey))?.retired) {
        throw new MimiError('holder-key-retired', 'this holder key was rotated out (R19)');
      }
      await this.once(tx, r, r.issuedAt);
    });
  }

  /**
   * R16, R24: a number event signed by the CSIP of the CSI. Disconnection and reassignment void
   * every mapping whose possession proof is older than the event; a port removes the mappings of
   * the donor when the donor is an MSP (the recipient MSP may then add one; neither: no change).
   * A contender whose proof is newer is served at once. Applied once per event, then relayed.
   */
  async applyCsipEvent(
    ev: CsipEvent,
    opts: ApplyOptions = {},
  ): Promise<{ removed: string[]; duplicate: boolean }> {
    assertCanonicalCsi(ev.csi);
    const registry = this.opts.registry();
    const issuer = registry.issuer(ev.issuer);
    if (issuer?.kind !== 'csip' || !csipCovers(issuer.entry, ev.csi)) {
      throw new MimiError(
        'csip-not-registered',
        `${ev.issuer} is not a registered CSIP for this identifier (R16)`,
      );
    }
    const { sig, ...unsigned } = ev;
    if (!issuer.entry.keys.some((k) => verifyObject(SignPurpose.CsipEvent, unsigned, sig, k))) {
      throw new MimiError('csip-signature-invalid', 'the number event is not signed by its CSIP');
    }
    const now = this.now();
    if (ev.at > now + (this.opts.policy.clockSkew ?? defaultClockSkew)) {
      throw new MimiError('request-stale', 'this number event is dated in the future');
    }
    const id = digest(ev);
    return this.opts.store.write(async (tx) => {
      const fresh = await tx.insertCsipEvent(
        { id, csi: ev.csi, kind: ev.kind, at: ev.at, json: canonicalize(ev) },
        now,
      );
      if (!fresh) return { removed: [], duplicate: true };
      const live = await liveOf(tx, ev.csi, now);
      const stale =
        ev.kind === 'ported'
          ? live.filter((m) => ev.donor != null && registry.msp(ev.donor) !== undefined && m.msp === ev.donor)
          : live.filter((m) => (JSON.parse(m.json) as Mapping).attestation.issuedAt <= ev.at);
      await tx.setState(ids(stale), MappingState.Removed, now);
      // R16, R24: the signed number event is the record; the leaf commits to it.
      await this.logRecord(tx, LogLeafKind.Removal, ev.csi, now, canonicalize(ev));
      await this.notify(tx, stale, NoticeKind.Removed, null);
      await this.promoteIfVacant(tx, ev.csi, now);
      await this.opts.onServedChange?.(tx, [ev.csi], now);
      if (!opts.relayed)
        await this.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.CsipEvent, payload: ev },
        });
      return { removed: ids(stale), duplicate: false };
    });
  }

  /** R17: contests whose window passed without a new proof are won by the newer holder. */
  async resolveContests(): Promise<number> {
    const now = this.now();
    const due = await this.opts.store.write((tx) => tx.csisWithDueContests(now));
    let resolved = 0;
    for (const csi of due) {
      resolved += await this.opts.store.write(async (tx) => {
        const live = await liveOf(tx, csi, now);
        const contested = live.filter((m) => m.state === MappingState.Contested);
        const winner = contested.find((m) => m.contestDeadline !== null && m.contestDeadline <= now);
        if (winner === undefined) return 0;
        const losers = live.filter((m) => m.state === MappingState.Active);
        await tx.setState(ids(losers), MappingState.Displaced, now);
        await this.notify(tx, losers, NoticeKind.Displaced, null);
        await tx.setState(
          ids(contested.filter((m) => m.holderGroup === winner.holderGroup)),
          MappingState.Active,
          now,
        );
        // Any other contender now contests the new incumbent, with a fresh window.
        const others = contested.filter((m) => m.holderGroup !== winner.holderGroup);
        await tx.setState(ids(others), MappingState.Contested, now, now + this.contestWindow);
        await this.logStatement(tx, LogLeafKind.ContestResolution, csi, now, {
          event: 'contest-won',
          winner: winner.id,
          displaced: ids(losers),
        });
        await this.opts.onServedChange?.(tx, [csi], now);
        return 1;
      });
    }
    return resolved;
  }

  /** When no holder is served any more, the oldest contender takes over (R17). */
  private async promoteIfVacant(tx: StoreTx, csi: string, now: number): Promise<void> {
    const live = await liveOf(tx, csi, now);
    if (live.some((m) => m.state === MappingState.Active)) return;
    const next = live.find((m) => m.state === MappingState.Contested);
    if (next === undefined) return;
    await tx.setState(ids(live.filter((m) => m.holderGroup === next.holderGroup)), MappingState.Active, now);
  }

  private async currentKey(tx: StoreTx, csi: string, key: string) {
    const row = await tx.holderKey(csi, key);
    if (row === undefined)
      throw new MimiError('holder-key-unknown', 'this DP knows no holder with this key for this CSI');
    if (row.retired) throw new MimiError('holder-key-retired', 'this holder key was rotated out (R19)');
    return row;
  }
}

/**
 * RFC 8785 canonical JSON of a mapping, spliced from its parts' canonical JSON: equal to
 * canonicalize() of the Mapping object (keys in JCS order; the strings are base64url and
 * participant ids, the numbers integers, which JSON.stringify writes as JCS does), without
 * walking the body and attestation again. Without `dpSig`: the DP's signing input.
 */
export function canonicalMappingJson(
  p: {
    body: string;
    attestation: string;
    holderSig: string | undefined;
    mspSig: string | null | undefined;
    dp: string;
    now: number;
    /** The mapping's leaf index in the DP's transparency log; null without a log. */
    logIndex?: number | null;
  },
  dpSig: string | undefined,
): string {
  const field = (name: string, value: string | null | undefined) =>
    value === undefined ? '' : `,"${name}":${JSON.stringify(value)}`;
  return (
    `{"acceptedAt":${JSON.stringify(p.now)},"attestation":${p.attestation},"body":${p.body}` +
    `${field('dp', p.dp)}${field('dpSig', dpSig)}${field('holderSig', p.holderSig)},"logIndex":${JSON.stringify(p.logIndex ?? null)}` +
    `${field('mspSig', p.mspSig)},"v":1}`
  );
}

async function liveOf(tx: StoreTx, csi: string, now: number): Promise<StoredMapping[]> {
  return (await tx.liveMappings(csi)).filter((m) => m.expiresAt > now);
}

/** The newest `createdAt` among a holder's stored mappings (0 for none): what freshness is judged by. */
function newestCreatedAt(rows: readonly StoredMapping[]): number {
  let newest = 0;
  for (const m of rows) newest = Math.max(newest, (JSON.parse(m.json) as Mapping).body.createdAt);
  return newest;
}

function ids(rows: readonly StoredMapping[]): string[] {
  return rows.map((m) => m.id);
}
