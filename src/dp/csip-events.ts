import { canonicalize } from '../crypto/jcs.js';
import { digest, SignPurpose, verifyObject } from '../crypto/sign.js';
import { MimiError } from '../protocol/errors.js';
import { assertCanonicalCsi } from '../protocol/identifiers.js';
import { type CsipEvent, FederationEventKind, NoticeKind } from '../protocol/records.js';
import { csipCovers } from '../registry/document.js';
import { defaultClockSkew } from '../registry/policy.js';
import { MappingState } from '../store/store.js';
import { LogLeafKind } from '../tlog/leaf.js';
import { promoteIfVacant } from './contests.js';
import type { ApplyOptions, DpCore } from './dp-core.js';
import { ids, noticesFor, removedByCsipEvent } from './precedence.js';

/**
 * R16, R24: a number event signed by the CSIP of the CSI. Disconnection and reassignment void
 * every mapping whose possession proof is older than the event; a port removes the mappings of
 * the donor when the donor is an MSP (the recipient MSP may then add one; neither: no change).
 * A contender whose proof is newer is served at once. Applied once per event, then relayed.
 */
export async function applyCsipEvent(
  core: DpCore,
  ev: CsipEvent,
  opts: ApplyOptions,
): Promise<{ removed: string[]; duplicate: boolean }> {
  assertCanonicalCsi(ev.csi);
  const registry = core.opts.registry();
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
  const now = core.now();
  if (ev.at > now + (core.opts.policy.clockSkew ?? defaultClockSkew)) {
    throw new MimiError('request-stale', 'this number event is dated in the future');
  }
  const id = digest(ev);
  return core.opts.store.write(async (tx) => {
    const fresh = await tx.insertCsipEvent(
      { id, csi: ev.csi, kind: ev.kind, at: ev.at, json: canonicalize(ev) },
      now,
    );
    if (!fresh) return { removed: [], duplicate: true };
    const stale = removedByCsipEvent({
      live: await core.liveOf(tx, ev.csi, now),
      kind: ev.kind,
      at: ev.at,
      donor: ev.donor,
      donorIsMsp: ev.donor != null && registry.msp(ev.donor) !== undefined,
    });
    await tx.setState(ids(stale), MappingState.Removed, now);
    // R16, R24: the signed number event is the record; the leaf commits to it.
    await core.logRecord(tx, LogLeafKind.Removal, ev.csi, now, canonicalize(ev));
    await core.notify(tx, noticesFor(stale, NoticeKind.Removed, null));
    await promoteIfVacant(core, tx, ev.csi, now);
    await core.servedChanged(tx, ev.csi, now);
    await core.relay(tx, FederationEventKind.CsipEvent, ev, opts);
    return { removed: ids(stale), duplicate: false };
  });
}
