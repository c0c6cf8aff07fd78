/**
 * The DP's decisions about one CSI, free of I/O (STYLE.md §17): rows in, transitions out. Each
 * function takes the CSI's live rows (unexpired, `active` or `contested`, in the store's order:
 * accepted first, then id) and the time as a number, never reads a clock or a store, and answers
 * what is refused (with its code), the state a new mapping takes, and which rows move to which
 * state with the notices their MSPs get. The provider reads the rows, applies the answer inside
 * one transaction, and logs it.
 */
import type { ErrorCode } from '../protocol/errors.js';
import { olderFirst } from '../protocol/preference.js';
import { DefaultTag, levelRank, type Mapping, NoticeKind } from '../protocol/records.js';
import { type HolderKey, MappingState, type StoredMapping } from '../store/store.js';

/** A refusal: the code the caller gets (an error of that code is thrown by the provider). */
export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
}

/** Rows of `ids` move to state `to` (a contested row with its deadline). */
export interface Transition {
  ids: string[];
  to: MappingState;
  contestDeadline?: number;
}

/** A notice to the MSP of a mapping concerned; it carries the mapping id and nothing else. */
export interface PendingNotice {
  msp: string;
  kind: NoticeKind;
  mappingId: string;
  deadline: number | null;
}

/** What a decision changes besides its subject: applied in order, then the notices sent in order. */
export interface Effects {
  transitions: Transition[];
  notices: PendingNotice[];
}

const refuse = (code: ErrorCode, message: string): Refusal => ({ ok: false, code, message });

export function ids(rows: readonly Pick<StoredMapping, 'id'>[]): string[] {
  return rows.map((m) => m.id);
}

function move(rows: readonly StoredMapping[], to: MappingState, contestDeadline?: number): Transition[] {
  if (rows.length === 0) return [];
  return [contestDeadline === undefined ? { ids: ids(rows), to } : { ids: ids(rows), to, contestDeadline }];
}

export function noticesFor(
  rows: readonly StoredMapping[],
  kind: NoticeKind,
  deadline: number | null,
): PendingNotice[] {
  return rows.flatMap((m) => (m.msp === null ? [] : [{ msp: m.msp, kind, mappingId: m.id, deadline }]));
}

/** The rows that are still live at `now`: a mapping expiring in this very second no longer is. */
export function liveAt(rows: readonly StoredMapping[], now: number): StoredMapping[] {
  return rows.filter((m) => m.expiresAt > now);
}

/** A CSIP event voids proofs made before it; one made in the very second of the event is as void (R16). */
export function voidedByCsipEvent(cutoff: number | null, proofIssuedAt: number): boolean {
  return cutoff !== null && proofIssuedAt <= cutoff;
}

/**
 * R14, R19: the same signed body again. What its holder withdrew here (replaced, opted out of,
 * invalidated) stays withdrawn; anything else is answered as accepted before.
 */
export function decideResubmission(earlier: Pick<StoredMapping, 'state'>): Refusal | { ok: true } {
  if (earlier.state === MappingState.Superseded || earlier.state === MappingState.Invalidated) {
    return refuse('record-stale', `this body was accepted before and is now ${earlier.state}`);
  }
  return { ok: true };
}

/** What the checks of a submission need of its body and proof. */
export interface SubmissionFacts {
  holderKey: string;
  msp: string | null;
  tag: string;
  createdAt: number;
  supersedes: string | null;
  optOut: boolean;
  /** When its possession proof was made (attestation.issuedAt). */
  proofIssuedAt: number;
}

export interface SubmissionChecked {
  ok: true;
  /** The holder's group: its first key's (R19 rotations keep it). */
  group: string;
  /** The holder's own live rows for the CSI. */
  mine: StoredMapping[];
  /** The live mapping the body replaces, if it names one. */
  replaced: string[];
}

/**
 * The checks of a new holder-signed body against what the CSI holds, in this order:
 * `attestation-superseded` (R16), `holder-key-retired` (R19), `record-stale` (a body older than
 * the holder's newest live one: bodies are public, so an old one posted again must not withdraw
 * what the holder published since, R14, R19, R25), `supersedes-invalid` (R19),
 * `default-tag-taken` (R7: one Default per holder and CSI), `mapping-exists`.
 */
export function checkSubmission(input: {
  live: readonly StoredMapping[];
  key: HolderKey | undefined;
  cutoff: number | null;
  submission: SubmissionFacts;
}): Refusal | SubmissionChecked {
  const { live, key, cutoff, submission: s } = input;
  if (voidedByCsipEvent(cutoff, s.proofIssuedAt)) {
    return refuse(
      'attestation-superseded',
      'the number was disconnected or reassigned after this proof (R16)',
    );
  }
  if (key?.retired) return refuse('holder-key-retired', 'this holder key was rotated out (R19)');
  const group = key?.group ?? s.holderKey;
  const mine = live.filter((m) => m.holderGroup === group);
  const newest = newestCreatedAt(mine);
  if (s.createdAt < newest) {
    return refuse('record-stale', `the holder has a newer body for this CSI (created ${newest})`);
  }
  const replaced: string[] = [];
  if (s.supersedes !== null) {
    const target = mine.find((m) => m.id === s.supersedes);
    if (target === undefined) {
      return refuse('supersedes-invalid', 'supersedes names no live mapping of this holder (R19)');
    }
    replaced.push(target.id);
  }
  if (!s.optOut) {
    const kept = mine.filter((m) => !replaced.includes(m.id) && !m.optOut);
    if (s.tag === DefaultTag && kept.some((m) => m.tag === DefaultTag)) {
      return refuse('default-tag-taken', 'this holder already has a Default mapping; supersede it');
    }
    if (kept.some((m) => m.msp === s.msp && m.tag === s.tag)) {
      return refuse('mapping-exists', `a mapping on ${s.msp} with tag ${s.tag} exists; supersede it`);
    }
  }
  return { ok: true, group, mine, replaced };
}

/**
 * R14, R19, R25: what an accepted body withdraws (all `superseded`): the mapping it replaces, and,
 * once it is served, either every other mapping of its holder (it is an opt-out) or the holder's
 * opt-out (it is a mapping). A contested body withdraws only what it replaces.
 */
export function withdrawnByAccept(
  checked: Pick<SubmissionChecked, 'mine' | 'replaced'>,
  optOut: boolean,
  state: MappingState,
): string[] {
  const withdrawn = [...checked.replaced];
  if (state === MappingState.Active) {
    const stillActive = checked.mine.filter((m) => !checked.replaced.includes(m.id));
    withdrawn.push(...ids(stillActive.filter((m) => (optOut ? true : m.optOut))));
  }
  return withdrawn;
}

/** What R17 needs to know of the mapping being placed. */
export type Candidate = Pick<StoredMapping, 'id' | 'holderGroup' | 'level' | 'acceptedAt'>;

export interface Placement extends Effects {
  state: typeof MappingState.Active | typeof MappingState.Contested;
  /** The candidate's contest deadline when it is contested, else null. */
  contestDeadline: number | null;
}

/**
 * R17 between the holder of `candidate` and the CSI's incumbent (the holder of its active rows):
 * - no incumbent, or the same holder: served;
 * - a stricter possession proof (levelRank) than the incumbent's best: served at once, the
 *   incumbent's rows `displaced`, the candidate holder's contested rows served with it;
 * - otherwise the older holder keeps precedence: the candidate is `contested` until its holder's
 *   running deadline, or `now + contestWindow` for its first contest, and the incumbent's MSPs
 *   are told;
 * - `foreign` (a peer's copy, R18): when the peer's holder was accepted first (same level,
 *   `olderFirst`), the roles swap: the candidate is served and ours becomes the contender.
 */
export function decidePrecedence(input: {
  live: readonly StoredMapping[];
  candidate: Candidate;
  now: number;
  contestWindow: number;
  foreign: boolean;
}): Placement {
  const { live, candidate, now } = input;
  const mine = live.filter((m) => m.holderGroup === candidate.holderGroup);
  const active = live.filter((m) => m.state === MappingState.Active);
  const incumbent = active[0]?.holderGroup;
  const served = { state: MappingState.Active, contestDeadline: null };
  if (incumbent === undefined || incumbent === candidate.holderGroup) {
    return { ...served, transitions: [], notices: [] };
  }
  const incumbentLevel = Math.max(...active.map((m) => levelRank[m.level]));
  const incumbentFirst = active.reduce((a, b) => (olderFirst(b, a) < 0 ? b : a));
  const newcomerLevel = levelRank[candidate.level];
  if (newcomerLevel > incumbentLevel) {
    return {
      ...served,
      transitions: [
        ...move(active, MappingState.Displaced),
        ...move(
          mine.filter((m) => m.state === MappingState.Contested),
          MappingState.Active,
        ),
      ],
      notices: noticesFor(active, NoticeKind.Displaced, null),
    };
  }
  const deadline = mine.find((m) => m.contestDeadline !== null)?.contestDeadline ?? now + input.contestWindow;
  if (input.foreign && newcomerLevel === incumbentLevel && olderFirst(candidate, incumbentFirst) < 0) {
    return {
      ...served,
      transitions: move(active, MappingState.Contested, deadline),
      notices: noticesFor(active, NoticeKind.Contested, deadline),
    };
  }
  return {
    state: MappingState.Contested,
    contestDeadline: deadline,
    transitions: [],
    notices: noticesFor(active, NoticeKind.Contested, deadline),
  };
}

/**
 * R18, R17: whether a peer's copy of a mapping is kept here. It is ignored when its proof is void
 * (R16), its key was rotated out (R19), or there is nothing to contest: this DP holds nothing
 * live for the CSI, or only the same holder's rows (peers apply the rules to what they hold).
 */
export function foreignIgnored(input: {
  live: readonly StoredMapping[];
  key: HolderKey | undefined;
  cutoff: number | null;
  holderKey: string;
  proofIssuedAt: number;
}): { ignored: true } | { ignored: false; group: string } {
  if (voidedByCsipEvent(input.cutoff, input.proofIssuedAt)) return { ignored: true };
  if (input.key?.retired) return { ignored: true };
  const group = input.key?.group ?? input.holderKey;
  if (input.live.length === 0 || input.live.every((m) => m.holderGroup === group)) return { ignored: true };
  return { ignored: false, group };
}

/** The incumbent an origin DP is told of when its holder's copy is contested here: our oldest served row. */
export function incumbentToTell(live: readonly StoredMapping[]): StoredMapping | undefined {
  return live.filter((m) => m.state === MappingState.Active).sort((a, b) => a.acceptedAt - b.acceptedAt)[0];
}

/** R17: when no holder is served any more, the oldest contender's holder is served at once. */
export function promotionIfVacant(live: readonly StoredMapping[]): Transition[] {
  if (live.some((m) => m.state === MappingState.Active)) return [];
  const next = live.find((m) => m.state === MappingState.Contested);
  if (next === undefined) return [];
  return move(
    live.filter((m) => m.holderGroup === next.holderGroup),
    MappingState.Active,
  );
}

export interface ContestOutcome extends Effects {
  winner: string;
  displaced: string[];
}

/**
 * R17: a contest whose window passed (`contestDeadline <= now`) without a new proof is won by the
 * contender: the incumbent's rows are `displaced` (their MSPs told), the winner's holder is
 * served, and any other contender contests the new incumbent with a fresh window.
 */
export function resolveContest(input: {
  live: readonly StoredMapping[];
  now: number;
  contestWindow: number;
}): ContestOutcome | undefined {
  const { live, now } = input;
  const contested = live.filter((m) => m.state === MappingState.Contested);
  const winner = contested.find((m) => m.contestDeadline !== null && m.contestDeadline <= now);
  if (winner === undefined) return undefined;
  const losers = live.filter((m) => m.state === MappingState.Active);
  return {
    winner: winner.id,
    displaced: ids(losers),
    transitions: [
      ...move(losers, MappingState.Displaced),
      ...move(
        contested.filter((m) => m.holderGroup === winner.holderGroup),
        MappingState.Active,
      ),
      ...move(
        contested.filter((m) => m.holderGroup !== winner.holderGroup),
        MappingState.Contested,
        now + input.contestWindow,
      ),
    ],
    notices: noticesFor(losers, NoticeKind.Displaced, null),
  };
}

/**
 * R17: the incumbent proves possession again. It must have a served row to defend
 * (`mapping-not-found`); the contenders of other holders accepted no later than the new proof
 * was made lose (a proof made before a contest began does not answer it).
 */
export function decideReaffirmation(input: {
  live: readonly StoredMapping[];
  group: string;
  proofIssuedAt: number;
}): Refusal | { ok: true; lost: string[] } {
  const { live, group } = input;
  if (!live.some((m) => m.holderGroup === group && m.state === MappingState.Active)) {
    return refuse('mapping-not-found', 'this holder has no served mapping to defend');
  }
  const lost = live.filter(
    (m) =>
      m.state === MappingState.Contested && m.holderGroup !== group && m.acceptedAt <= input.proofIssuedAt,
  );
  return { ok: true, lost: ids(lost) };
}

/**
 * R19, R25: what an invalidation withdraws: the holder's live rows accepted by the time it was
 * signed (`issuedAt` plus the clock skew allowed), all of them or the one it names; none is
 * `mapping-not-found`.
 */
export function invalidationTargets(input: {
  live: readonly StoredMapping[];
  group: string;
  target: string | null;
  issuedAt: number;
  clockSkew: number;
}): Refusal | { ok: true; targets: string[] } {
  const mine = input.live.filter(
    (m) => m.holderGroup === input.group && m.acceptedAt <= input.issuedAt + input.clockSkew,
  );
  const targets = input.target === null ? mine : mine.filter((m) => m.id === input.target);
  if (targets.length === 0) return refuse('mapping-not-found', 'no live mapping of this holder matches');
  return { ok: true, targets: ids(targets) };
}

/**
 * R16, R24: the rows a CSIP event removes. Disconnection and reassignment void every row whose
 * possession proof is no newer than the event; a port removes the donor's rows when the donor is a
 * registered MSP (`donorIsMsp`), and nothing otherwise.
 */
export function removedByCsipEvent(input: {
  live: readonly StoredMapping[];
  kind: string;
  at: number;
  donor: string | null | undefined;
  donorIsMsp: boolean;
}): StoredMapping[] {
  const { live, donor } = input;
  if (input.kind === 'ported') {
    return live.filter((m) => donor != null && input.donorIsMsp && m.msp === donor);
  }
  return live.filter((m) => proofIssuedAt(m) <= input.at);
}

/** When a stored row's possession proof was made. */
function proofIssuedAt(m: StoredMapping): number {
  return (JSON.parse(m.json) as Mapping).attestation.issuedAt;
}

/** The newest `createdAt` among a holder's stored rows (0 for none): what freshness is judged by. */
export function newestCreatedAt(rows: readonly StoredMapping[]): number {
  let newest = 0;
  for (const m of rows) newest = Math.max(newest, (JSON.parse(m.json) as Mapping).body.createdAt);
  return newest;
}
