import { createHash } from 'node:crypto';
import { canonicalize } from '../crypto/jcs.js';
import { digest, SignPurpose, sha256, signCanonical } from '../crypto/sign.js';
import { toB64u } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { FederationEventKind, type Mapping, type MappingSubmission } from '../protocol/records.js';
import { isOptOut, verifyHolderAndMsp, verifyMapping } from '../registry/verify-mapping.js';
import { MappingState, type StoredMapping, type StoreTx } from '../store/store.js';
import { LogLeafKind } from '../tlog/leaf.js';
import type { AcceptResult, DpCore } from './dp-core.js';
import {
  checkSubmission,
  decidePrecedence,
  decideResubmission,
  foreignIgnored,
  incumbentToTell,
  type Placement,
  withdrawnByAccept,
} from './precedence.js';

/** R3: check a holder- and MSP-signed mapping (or a holder's opt-out), apply precedence, countersign. */
export async function acceptMapping(core: DpCore, sub: MappingSubmission): Promise<AcceptResult> {
  const ctx = core.context();
  const { now, registry } = ctx;
  const canonical = verifyHolderAndMsp(sub, ctx, { submission: true });
  const { body, attestation } = sub;
  if (body.expiresAt - now > registry.doc.policy.maxMappingLifetime) {
    throw new MimiError(
      'mapping-lifetime-too-long',
      `mappings may live at most ${registry.doc.policy.maxMappingLifetime} s`,
    );
  }
  if (core.opts.policy.requireIndependentVerifier) {
    const self = registry.dp(core.id);
    if (self !== undefined && registry.issuer(attestation.issuer)?.entry.operator === self.operator) {
      throw new MimiError('verifier-not-independent', 'the verifier is run by this DP operator');
    }
  }
  const optOut = isOptOut(body);
  // Each part is canonicalised once, in verifyHolderAndMsp; the mapping's canonical JSON is
  // spliced from them (canonicalMappingJson), signed, stored and answered as it is.
  const bodyDigest = toB64u(sha256(canonical.body));

  return core.opts.store.write(async (tx) => {
    const { earlier, cutoff, key, live } = await core.readCsi(tx, body.csi, body.holderKey, bodyDigest, now);
    if (earlier !== undefined) {
      const again = decideResubmission(earlier);
      if (!again.ok) throw new MimiError(again.code, again.message);
      return resultOf(earlier, true);
    }
    const checked = checkSubmission({
      live,
      key,
      cutoff,
      submission: { ...body, optOut, proofIssuedAt: attestation.issuedAt },
    });
    if (!checked.ok) throw new MimiError(checked.code, checked.message);
    const { group } = checked;

    const unsigned: Mapping = {
      v: 1,
      body,
      attestation,
      holderSig: sub.holderSig,
      mspSig: optOut ? null : sub.mspSig,
      dp: core.id,
      acceptedAt: now,
      // R3: the leaf's index is known before the DP signs (one writer at a time).
      logIndex: core.opts.log === undefined ? null : await core.opts.log.nextIndex(tx),
    };
    const parts = {
      ...canonical,
      holderSig: sub.holderSig,
      mspSig: unsigned.mspSig,
      dp: core.id,
      now,
      logIndex: unsigned.logIndex,
    };
    const dpSig = signCanonical(
      SignPurpose.MappingDp,
      canonicalMappingJson(parts, undefined),
      core.opts.key.privateKey,
    );
    const mapping: Mapping = { ...unsigned, dpSig };
    const row = rowOf(mapping, group, bodyDigest, canonicalMappingJson(parts, dpSig));
    const kind = optOut
      ? LogLeafKind.OptOut
      : body.supersedes !== null
        ? LogLeafKind.Replacement
        : LogLeafKind.Mapping;
    const at = await core.logRecord(tx, kind, body.csi, now, row.json);
    if ((at ?? null) !== unsigned.logIndex) {
      throw new MimiError('internal', 'the log index moved under the signature');
    }
    // R17: the incumbent (older) holder keeps precedence unless the newcomer's proof is stricter.
    const placed = await place(core, tx, row, live, now, false);
    if (placed.state === MappingState.Contested) {
      await core.logStatement(tx, LogLeafKind.Contest, body.csi, now, {
        event: 'contest',
        mapping: row.id,
        deadline: row.contestDeadline,
      });
    }
    await tx.setState(withdrawnByAccept(checked, optOut, placed.state), MappingState.Superseded, now);
    if (key === undefined) {
      await tx.insertHolderKey({ csi: body.csi, key: body.holderKey, group, retired: false });
      // R18: a new holder for this CSI: every peer applies R17 to what it holds.
      await core.emit(tx, {
        kind: 'federation',
        event: { kind: FederationEventKind.Mapping, payload: mapping },
      });
    }
    await tx.insertMapping(row);
    await core.servedChanged(tx, body.csi, now);
    return { id: row.id, state: placed.state, mapping, json: row.json, duplicate: false };
  });
}

/**
 * R18, R17: a peer announced a new holder's mapping (or answered ours with an older holder).
 * It is verified in full, kept as a copy, and takes its place by the same precedence rules, the
 * older holder being the one accepted first wherever that was. When we hold the older holder, we
 * tell the origin, so both DPs reach the same state.
 */
export async function acceptForeign(
  core: DpCore,
  mapping: Mapping,
  origin: string,
): Promise<{ state: MappingState | 'ignored'; duplicate: boolean }> {
  const ctx = core.context();
  verifyMapping(mapping, ctx);
  const { body, attestation } = mapping;
  const bodyDigest = digest(body);
  const now = ctx.now;
  return core.opts.store.write(async (tx) => {
    const { earlier, cutoff, key, live } = await core.readCsi(tx, body.csi, body.holderKey, bodyDigest, now);
    if (earlier !== undefined) return { state: 'ignored' as const, duplicate: true };
    const kept = foreignIgnored({
      live,
      key,
      cutoff,
      holderKey: body.holderKey,
      proofIssuedAt: attestation.issuedAt,
    });
    if (kept.ignored) return { state: 'ignored' as const, duplicate: false };
    const row = rowOf(mapping, kept.group, bodyDigest);
    const placed = await place(core, tx, row, live, now, true);
    // R17 across DPs: the peer's holder contests ours, or ours now contests the peer's.
    await core.logStatement(tx, LogLeafKind.Contest, body.csi, now, {
      event: 'contest',
      mapping: row.id,
      origin,
      state: placed.state,
    });
    if (key === undefined)
      await tx.insertHolderKey({ csi: body.csi, key: body.holderKey, group: kept.group, retired: false });
    await tx.insertMapping(row);
    if (placed.state === MappingState.Contested) {
      // We hold the older holder: say so to the origin, which then holds ours as the incumbent.
      const incumbent = incumbentToTell(live);
      if (incumbent !== undefined) {
        await core.emit(tx, {
          kind: 'federation',
          event: { kind: FederationEventKind.Mapping, payload: JSON.parse(incumbent.json), to: origin },
        });
      }
    }
    await core.servedChanged(tx, body.csi, now);
    return { state: placed.state, duplicate: false };
  });
}

/** R17: decides the new row's place among the CSI's live rows, sets its state, and applies the rest. */
async function place(
  core: DpCore,
  tx: StoreTx,
  row: StoredMapping,
  live: readonly StoredMapping[],
  now: number,
  foreign: boolean,
): Promise<Placement> {
  const placed = decidePrecedence({ live, candidate: row, now, contestWindow: core.contestWindow, foreign });
  row.state = placed.state;
  row.contestDeadline = placed.contestDeadline;
  await core.apply(tx, placed, now);
  return placed;
}

function rowOf(
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

function resultOf(row: StoredMapping, duplicate: boolean): AcceptResult {
  const state = row.state === MappingState.Contested ? MappingState.Contested : MappingState.Active;
  return { id: row.id, state, mapping: JSON.parse(row.json) as Mapping, json: row.json, duplicate };
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
