import { canonicalize } from '../crypto/jcs.js';
import { digest, SignPurpose, verifyObject } from '../crypto/sign.js';
import { requestMaxAgeSeconds } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import { assertCanonicalCsi } from '../protocol/identifiers.js';
import {
  FederationEventKind,
  type HolderRead,
  type Invalidation,
  type KeyRotation,
  type PseudonymRequest,
  type Reaffirmation,
} from '../protocol/records.js';
import { defaultClockSkew } from '../registry/policy.js';
import { verifyAttestation } from '../registry/verify-mapping.js';
import { type HolderKey, MappingState, type StoredMapping, type StoreTx } from '../store/store.js';
import { LogLeafKind } from '../tlog/leaf.js';
import { promoteIfVacant } from './contests.js';
import { type ApplyOptions, type DpCore, day } from './dp-core.js';
import { decideReaffirmation, invalidationTargets, voidedByCsipEvent } from './precedence.js';

/** R19, R25: the holder withdraws one mapping, or all of its mappings for the CSI. */
export async function invalidate(
  core: DpCore,
  inv: Invalidation,
  opts: ApplyOptions,
): Promise<{ invalidated: string[] }> {
  checkRequest(core, inv.issuedAt, inv.csi, opts);
  const { sig, ...unsigned } = inv;
  if (!verifyObject(SignPurpose.Invalidation, unsigned, sig, inv.holderKey)) {
    throw new MimiError('request-signature-invalid', 'the invalidation is not signed by its holder key');
  }
  const now = core.now();
  return core.opts.store.write(async (tx) => {
    const key = await currentKey(tx, inv.csi, inv.holderKey);
    await once(core, tx, inv, inv.issuedAt);
    // A withdrawal covers what the holder had published when signing it, not later mappings.
    const found = invalidationTargets({
      live: await core.liveOf(tx, inv.csi, now),
      group: key.group,
      target: inv.target,
      issuedAt: inv.issuedAt,
      clockSkew: core.opts.policy.clockSkew ?? defaultClockSkew,
    });
    if (!found.ok) throw new MimiError(found.code, found.message);
    await tx.setState(found.targets, MappingState.Invalidated, now);
    await core.logRecord(tx, LogLeafKind.Invalidation, inv.csi, now, canonicalize(inv));
    await promoteIfVacant(core, tx, inv.csi, now);
    await core.servedChanged(tx, inv.csi, now);
    await core.relay(tx, FederationEventKind.Invalidation, inv, opts);
    return { invalidated: found.targets };
  });
}

/**
 * R19: the holder moves to a new key, signed by both. The new key inherits the old one's
 * precedence; the old key can do nothing more. Mappings signed by the old key stay valid until
 * the holder replaces or invalidates them.
 */
export async function rotateKey(core: DpCore, rot: KeyRotation, opts: ApplyOptions): Promise<void> {
  checkRequest(core, rot.issuedAt, rot.csi, opts);
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
  await core.opts.store.write(async (tx) => {
    const old = await currentKey(tx, rot.csi, rot.oldKey);
    await once(core, tx, rot, rot.issuedAt);
    if ((await tx.holderKey(rot.csi, rot.newKey)) !== undefined) {
      throw new MimiError('record-invalid', 'the new key is already known for this CSI');
    }
    await tx.retireHolderKey(rot.csi, rot.oldKey);
    await tx.insertHolderKey({ csi: rot.csi, key: rot.newKey, group: old.group, retired: false });
    await core.logRecord(tx, LogLeafKind.KeyRotation, rot.csi, core.now(), canonicalize(rot));
    await core.relay(tx, FederationEventKind.KeyRotation, rot, opts);
  });
}

/** R17: the incumbent proves possession again inside its window; the contest is lost. */
export async function reaffirm(
  core: DpCore,
  r: Reaffirmation,
  opts: ApplyOptions,
): Promise<{ lost: string[] }> {
  checkRequest(core, r.issuedAt, r.csi, opts);
  const ctx = opts.relayed
    ? { ...core.context(), policy: { ...core.opts.policy, allowExpired: true } }
    : core.context();
  const { sig, ...unsigned } = r;
  if (!verifyObject(SignPurpose.Reaffirmation, unsigned, sig, r.holderKey)) {
    throw new MimiError('request-signature-invalid', 'the reaffirmation is not signed by its holder key');
  }
  verifyAttestation(r.attestation, ctx);
  if (r.attestation.csi !== r.csi || r.attestation.holderKey !== r.holderKey) {
    throw new MimiError('attestation-mismatch', 'the attestation is for another CSI or holder key');
  }
  return core.opts.store.write(async (tx) => {
    const key = await currentKey(tx, r.csi, r.holderKey);
    await once(core, tx, r, r.issuedAt);
    const decided = decideReaffirmation({
      live: await core.liveOf(tx, r.csi, ctx.now),
      group: key.group,
      proofIssuedAt: r.attestation.issuedAt,
    });
    if (!decided.ok) throw new MimiError(decided.code, decided.message);
    const { lost } = decided;
    await tx.setState(lost, MappingState.Lost, ctx.now);
    if (lost.length > 0) {
      await core.logStatement(tx, LogLeafKind.ContestResolution, r.csi, ctx.now, {
        event: 'reaffirmed',
        reaffirmation: digest(r),
        lost,
      });
    }
    await core.relay(tx, FederationEventKind.Reaffirmation, r, opts);
    return { lost };
  });
}

/**
 * R28: a holder reads one of its own mappings by id, in any state. The request is signed by a
 * current key of the mapping's holder (rotations included), fresh and used once. Every other
 * case (no such id, another CSI, another holder, a key rotated out) is answered undefined, as
 * for an id that does not exist, so the answer reveals nothing to anyone else.
 */
export async function readForHolder(core: DpCore, r: HolderRead): Promise<StoredMapping | undefined> {
  checkRequest(core, r.issuedAt, r.csi, {});
  const { sig, ...unsigned } = r;
  if (!verifyObject(SignPurpose.HolderRead, unsigned, sig, r.holderKey)) {
    throw new MimiError('request-signature-invalid', 'the read is not signed by its holder key');
  }
  return core.opts.store.write(async (tx) => {
    const row = await tx.mapping(r.mapping);
    if (row === undefined || row.csi !== r.csi) return undefined;
    const key = await tx.holderKey(r.csi, r.holderKey);
    if (key === undefined || key.retired || key.group !== row.holderGroup) return undefined;
    // Only a read that is answered is remembered: a refusal stores nothing.
    await once(core, tx, r, r.issuedAt);
    return row;
  });
}

/**
 * R28: whether a holder may be told its CSI's log pseudonym: a fresh, single-use request signed
 * by the holder key, with a current attestation (trusted verifier, unexpired, not voided by a
 * later CSIP event) for this CSI and this key. The pseudonym is per CSI, so a holder who proves
 * possession sees entries made with any key. A key rotated out for this CSI is refused.
 */
export async function checkPossession(core: DpCore, r: PseudonymRequest): Promise<void> {
  checkRequest(core, r.issuedAt, r.csi, {});
  const { sig, ...unsigned } = r;
  if (!verifyObject(SignPurpose.LogPseudonym, unsigned, sig, r.holderKey)) {
    throw new MimiError('request-signature-invalid', 'the request is not signed by its holder key');
  }
  verifyAttestation(r.attestation, core.context());
  if (r.attestation.csi !== r.csi || r.attestation.holderKey !== r.holderKey) {
    throw new MimiError('attestation-mismatch', 'the attestation is for another CSI or holder key');
  }
  await core.opts.store.write(async (tx) => {
    if (voidedByCsipEvent(await tx.csipCutoff(r.csi), r.attestation.issuedAt)) {
      throw new MimiError(
        'attestation-superseded',
        'the number was disconnected or reassigned after this proof (R16)',
      );
    }
    if ((await tx.holderKey(r.csi, r.holderKey))?.retired) {
      throw new MimiError('holder-key-retired', 'this holder key was rotated out (R19)');
    }
    await once(core, tx, r, r.issuedAt);
  });
}

/** Checks the CSI and the freshness of a holder request (relayed ones may be old: replays still fail). */
function checkRequest(core: DpCore, issuedAt: number, csi: string, opts: ApplyOptions): void {
  assertCanonicalCsi(csi);
  if (!opts.relayed && Math.abs(core.now() - issuedAt) > requestMaxAgeSeconds) {
    throw new MimiError(
      'request-stale',
      `holder requests must be signed within ${requestMaxAgeSeconds} s of now`,
    );
  }
  if (issuedAt > core.now() + requestMaxAgeSeconds)
    throw new MimiError('request-stale', 'this request is signed in the future');
}

async function once(core: DpCore, tx: StoreTx, request: unknown, issuedAt: number): Promise<void> {
  // Relayed requests can arrive late, so ids are kept long enough to outlast any retry.
  const keepUntil = Math.max(issuedAt, core.now()) + 30 * day + 2 * requestMaxAgeSeconds;
  if (!(await tx.rememberRequest(digest(request), keepUntil))) {
    throw new MimiError('replayed', 'this signed request was already used');
  }
}

async function currentKey(tx: StoreTx, csi: string, key: string): Promise<HolderKey> {
  const row = await tx.holderKey(csi, key);
  if (row === undefined)
    throw new MimiError('holder-key-unknown', 'this DP knows no holder with this key for this CSI');
  if (row.retired) throw new MimiError('holder-key-retired', 'this holder key was rotated out (R19)');
  return row;
}
