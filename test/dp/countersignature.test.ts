import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { secondSignature } from '../../src/cli/conformance.js';
import { canonicalize } from '../../src/crypto/jcs.js';
import { generateKeyPair, type KeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signingInput, signObject, verifyInput } from '../../src/crypto/sign.js';
import type { MappingSubmission } from '../../src/protocol/records.js';
import { countersign, countersignedPart, verifyMapping } from '../../src/registry/verify-mapping.js';
import { Federation } from '../support/federation.js';

const csi = 'tel:+14155550123';

describe('the MSP countersignature covers the holder signature (body v2)', () => {
  let fed: Federation;
  let bob: KeyPair;
  beforeEach(() => {
    fed = new Federation();
    bob = generateKeyPair();
  });
  afterEach(async () => {
    await fed.close();
  });

  it('signs the body digest and the holder signature under purpose mapping-countersign', async () => {
    const sub = fed.submission(csi, bob);
    expect(sub.body.v).toBe(2);
    const part = countersignedPart(canonicalize(sub.body), sub.holderSig!);
    const msp1 = fed.mspKeys.msp1!.publicKey;
    expect(verifyInput(signingInput(SignPurpose.MappingCountersign, part), sub.mspSig!, msp1)).toBe(true);
    // Not the version 1 input: a v2 countersignature says nothing about the body alone.
    expect(verifyInput(signingInput(SignPurpose.MappingMsp, sub.body), sub.mspSig!, msp1)).toBe(false);
    const accepted = await fed.dp.accept(sub);
    expect(accepted.state).toBe('active');
    verifyMapping(accepted.mapping, { registry: fed.registry, policy: {}, now: fed.clock.now() });
  });

  it('an MSP signature moved onto another valid holder signature of the same body is refused', async () => {
    // Two valid holder signatures of one body (a hedged signer, or a holder making a second one).
    const sub = fed.submission(csi, bob);
    const second = secondSignature(signingInput(SignPurpose.MappingHolder, sub.body), bob);
    expect(second).not.toBe(sub.holderSig);
    const moved: MappingSubmission = { ...sub, holderSig: second };
    await expect(fed.dp.accept(moved)).rejects.toMatchObject({ code: 'msp-signature-invalid' });
    // With its own countersignature, the same holder signature is fine: only the move is wrong.
    const own = countersign({ body: sub.body, holderSig: second }, fed.mspKeys.msp1!.privateKey);
    expect((await fed.dp.accept({ ...moved, mspSig: own })).state).toBe('active');
  });

  it('swapped, truncated and tampered countersignatures are refused', async () => {
    const sub = fed.submission(csi, bob);
    const other = fed.submission(csi, bob, { tag: 'work' });
    const cases: MappingSubmission[] = [
      { ...sub, mspSig: other.mspSig }, // another mapping's countersignature
      { ...sub, mspSig: sub.holderSig }, // the holder's signature in the MSP's place
      { ...sub, mspSig: sub.mspSig!.slice(0, 85) }, // truncated
      {
        ...sub,
        mspSig: `${sub.mspSig!.slice(0, 10)}${sub.mspSig![10] === 'A' ? 'B' : 'A'}${sub.mspSig!.slice(11)}`,
      },
      // signed by msp2's key for an msp1 mapping
      { ...sub, mspSig: countersign(sub as Required<MappingSubmission>, fed.mspKeys.msp2!.privateKey) },
    ];
    for (const c of cases) {
      await expect(fed.dp.accept(c)).rejects.toMatchObject({ code: 'msp-signature-invalid' });
    }
    expect(await fed.served(csi)).toEqual([]);
  });

  it('a new version 1 submission is refused (version-retired); a stored v1 mapping still verifies', async () => {
    const v2 = fed.submission(csi, bob);
    const body = { ...v2.body, v: 1 as const };
    const holderSig = signObject(SignPurpose.MappingHolder, body, bob.privateKey);
    const v1: MappingSubmission = {
      body,
      attestation: v2.attestation,
      holderSig,
      mspSig: signObject(SignPurpose.MappingMsp, body, fed.mspKeys.msp1!.privateKey),
    };
    await expect(fed.dp.accept(v1)).rejects.toMatchObject({ code: 'version-retired' });
    // Our MSP agent's signer makes v2 countersignatures only.
    expect(() => countersign({ body, holderSig }, fed.mspKeys.msp1!.privateKey)).toThrow(
      expect.objectContaining({ code: 'version-retired' }),
    );
    // A v1 mapping a DP accepted before the change (here signed as it was) verifies as it did,
    // under the v1 rule only: its MSP signature over the body alone.
    const mapping = {
      v: 1 as const,
      ...v1,
      dp: 'dp1',
      acceptedAt: fed.clock.now(),
      logIndex: null,
    };
    const signed = {
      ...mapping,
      dpSig: signObject(SignPurpose.MappingDp, mapping, fed.dpKeys.records.privateKey),
    };
    const ctx = { registry: fed.registry, policy: {}, now: fed.clock.now() };
    verifyMapping(signed, ctx);
    // Federation replication takes it too (a peer accepted it before it upgraded): here it meets
    // another holder's live mapping, so it is kept and contests it (R18).
    await fed.dp.accept(fed.submission(csi, generateKeyPair(), { msp: 'msp2' }));
    expect((await fed.dp.acceptForeign(signed, 'dp1')).state).not.toBe('ignored');
    const asV2 = { ...signed, body: { ...body, v: 2 as const } };
    expect(() => verifyMapping(asV2, ctx)).toThrow(
      expect.objectContaining({ code: 'holder-signature-invalid' }),
    );
    const v1WithV2Sig = { ...signed, mspSig: v2.mspSig };
    expect(() => verifyMapping(v1WithV2Sig, ctx)).toThrow(
      expect.objectContaining({ code: 'msp-signature-invalid' }),
    );
  });
});
