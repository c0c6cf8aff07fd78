import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import { Federation } from '../support/federation.js';
import { availableStoreBackends } from '../support/stores.js';

const csi = 'tel:+14155550199';

// The DP's rules on every store backend (PostgreSQL when MIMI_TEST_POSTGRES_URL is set).
const backends = availableStoreBackends();

describe.each(backends)('R17 precedence between holders of one CSI ($name)', (backend) => {
  let fed: Federation;
  beforeEach(async () => {
    fed = new Federation({}, 3600, await backend.open());
  });
  afterEach(async () => {
    await fed.close();
  });

  it('the older holder keeps precedence; the newcomer is contested and not served', async () => {
    const bob = generateKeyPair();
    const eve = generateKeyPair();
    const a = await fed.dp.accept(fed.submission(csi, bob));
    const b = await fed.dp.accept(fed.submission(csi, eve, { msp: 'msp2' }));
    expect([a.state, b.state]).toEqual(['active', 'contested']);
    expect(await fed.served(csi)).toEqual([a.id]);
  });

  it('the newcomer wins when the incumbent does not prove possession again within the window', async () => {
    const bob = generateKeyPair();
    const eve = generateKeyPair();
    const a = await fed.dp.accept(fed.submission(csi, bob));
    const b = await fed.dp.accept(fed.submission(csi, eve, { msp: 'msp2' }));
    fed.clock.advance(3599);
    expect(await fed.dp.resolveContests()).toBe(0);
    expect(await fed.served(csi)).toEqual([a.id]);
    fed.clock.advance(2);
    expect(await fed.dp.resolveContests()).toBe(1);
    expect(await fed.served(csi)).toEqual([b.id]);
    expect((await fed.store.mapping(a.id))?.state).toBe('displaced');
  });

  it('a stricter proof of possession (CSIP token) displaces the older holder at once', async () => {
    const bob = generateKeyPair();
    const carol = generateKeyPair();
    const a = await fed.dp.accept(fed.submission(csi, bob));
    const strict = fed.attest(csi, carol, 'csip-token');
    const b = await fed.dp.accept(fed.submission(csi, carol, { msp: 'msp2', attestation: strict }));
    expect(b.state).toBe('active');
    expect(await fed.served(csi)).toEqual([b.id]);
    expect((await fed.store.mapping(a.id))?.state).toBe('displaced');
  });

  it('a CSIP may only vouch for CSIs in its scope', async () => {
    const carol = generateKeyPair();
    const email = 'mailto:carol@example.org';
    const strict = fed.attest(email, carol, 'csip-token');
    await expect(fed.dp.accept(fed.submission(email, carol, { attestation: strict }))).rejects.toMatchObject({
      code: 'verifier-not-trusted',
    });
  });

  it('when the incumbent invalidates its mappings, the contender is served at once', async () => {
    const bob = generateKeyPair();
    const eve = generateKeyPair();
    await fed.dp.accept(fed.submission(csi, bob));
    const b = await fed.dp.accept(fed.submission(csi, eve, { msp: 'msp2' }));
    const unsigned = {
      v: 1 as const,
      csi,
      holderKey: bob.publicKey,
      target: null,
      issuedAt: fed.clock.now(),
    };
    await fed.dp.invalidate({
      ...unsigned,
      sig: signObject(SignPurpose.Invalidation, unsigned, bob.privateKey),
    });
    expect(await fed.served(csi)).toEqual([b.id]);
  });

  it('a reaffirmation with an attestation older than the contest does not win it', async () => {
    const bob = generateKeyPair();
    const eve = generateKeyPair();
    const oldProof = fed.attest(csi, bob);
    fed.clock.advance(10);
    await fed.dp.accept(fed.submission(csi, bob, { attestation: oldProof }));
    fed.clock.advance(10);
    await fed.dp.accept(fed.submission(csi, eve, { msp: 'msp2' }));
    const unsigned = {
      v: 1 as const,
      csi,
      holderKey: bob.publicKey,
      attestation: oldProof,
      issuedAt: fed.clock.now(),
    };
    const r = await fed.dp.reaffirm({
      ...unsigned,
      sig: signObject(SignPurpose.Reaffirmation, unsigned, bob.privateKey),
    });
    expect(r.lost).toEqual([]);
  });
});

describe.each(backends)("R7, R19: one holder's own mappings ($name)", (backend) => {
  let fed: Federation;
  beforeEach(async () => {
    fed = new Federation({}, 3600, await backend.open());
  });
  afterEach(async () => {
    await fed.close();
  });

  it('only one Default per holder and CSI; a second must supersede the first', async () => {
    const bob = generateKeyPair();
    const first = await fed.dp.accept(fed.submission(csi, bob));
    await expect(fed.dp.accept(fed.submission(csi, bob, { msp: 'msp2' }))).rejects.toMatchObject({
      code: 'default-tag-taken',
    });
    const second = await fed.dp.accept(fed.submission(csi, bob, { msp: 'msp2', supersedes: first.id }));
    expect(await fed.served(csi)).toEqual([second.id]);
    expect((await fed.store.mapping(first.id))?.state).toBe('superseded');
  });

  it('the same MSP and tag twice is refused; supersedes must name a live mapping of the same holder', async () => {
    const bob = generateKeyPair();
    const other = generateKeyPair();
    await fed.dp.accept(fed.submission(csi, bob, { tag: 'work' }));
    await expect(fed.dp.accept(fed.submission(csi, bob, { tag: 'work', user: 'b2' }))).rejects.toMatchObject({
      code: 'mapping-exists',
    });
    const theirs = await fed.dp.accept(fed.submission('tel:+14155550188', other));
    await expect(fed.dp.accept(fed.submission(csi, bob, { supersedes: theirs.id }))).rejects.toMatchObject({
      code: 'supersedes-invalid',
    });
  });

  it('resubmitting the same signed body is idempotent', async () => {
    const bob = generateKeyPair();
    const sub = fed.submission(csi, bob);
    const a = await fed.dp.accept(sub);
    const b = await fed.dp.accept(sub);
    expect(b).toMatchObject({ id: a.id, duplicate: true });
    expect((await fed.store.stats()).mappings).toBe(1);
  });

  it("an opt-out withdraws the holder's mappings and answers opt-out (R14, R25)", async () => {
    const bob = generateKeyPair();
    const m = await fed.dp.accept(fed.submission(csi, bob));
    const o = await fed.dp.accept(fed.submission(csi, bob, { msp: null }));
    expect(await fed.served(csi)).toEqual([o.id]);
    expect((await fed.store.mapping(m.id))?.state).toBe('superseded');
  });

  it('holder requests: stale, replayed, wrong key and unknown target are refused with their codes', async () => {
    const bob = generateKeyPair();
    const m = await fed.dp.accept(fed.submission(csi, bob));
    const sign = (target: string | null, issuedAt: number, key = bob) => {
      const unsigned = { v: 1 as const, csi, holderKey: bob.publicKey, target, issuedAt };
      return { ...unsigned, sig: signObject(SignPurpose.Invalidation, unsigned, key.privateKey) };
    };
    await expect(fed.dp.invalidate(sign(m.id, fed.clock.now() - 3600))).rejects.toMatchObject({
      code: 'request-stale',
    });
    await expect(fed.dp.invalidate(sign(m.id, fed.clock.now(), generateKeyPair()))).rejects.toMatchObject({
      code: 'request-signature-invalid',
    });
    await expect(fed.dp.invalidate(sign('A'.repeat(43), fed.clock.now()))).rejects.toMatchObject({
      code: 'mapping-not-found',
    });
    const ok = sign(m.id, fed.clock.now() + 1);
    await fed.dp.invalidate(ok);
    await expect(fed.dp.invalidate(ok)).rejects.toMatchObject({ code: 'replayed' });
  });

  it('key rotation needs both signatures; the new key inherits precedence', async () => {
    const bob = generateKeyPair();
    const next = generateKeyPair();
    const eve = generateKeyPair();
    await fed.dp.accept(fed.submission(csi, bob));
    const unsigned = {
      v: 1 as const,
      csi,
      oldKey: bob.publicKey,
      newKey: next.publicKey,
      issuedAt: fed.clock.now(),
    };
    const oldSig = signObject(SignPurpose.KeyRotation, unsigned, bob.privateKey);
    await expect(
      fed.dp.rotateKey({
        ...unsigned,
        oldSig,
        newSig: signObject(SignPurpose.KeyRotation, unsigned, eve.privateKey),
      }),
    ).rejects.toMatchObject({ code: 'request-signature-invalid' });
    await fed.dp.rotateKey({
      ...unsigned,
      oldSig,
      newSig: signObject(SignPurpose.KeyRotation, unsigned, next.privateKey),
    });
    await expect(fed.dp.accept(fed.submission(csi, bob, { tag: 'x' }))).rejects.toMatchObject({
      code: 'holder-key-retired',
    });
    const again = await fed.dp.accept(fed.submission(csi, next, { tag: 'x', msp: 'msp2' }));
    expect(again.state).toBe('active');
  });

  it("mappings asking for more than the registry's maximum lifetime are refused", async () => {
    const bob = generateKeyPair();
    const sub = fed.submission(csi, bob);
    const body = { ...sub.body, expiresAt: fed.clock.now() + 2 * 365 * 86_400 };
    const att = { ...sub.attestation };
    const holderSig = signObject(SignPurpose.MappingHolder, body, bob.privateKey);
    const longer = {
      body,
      attestation: att,
      holderSig,
      mspSig: countersign({ body, holderSig }, fed.mspKeys.msp1!.privateKey),
    };
    await expect(fed.dp.accept(longer)).rejects.toMatchObject({ code: 'mapping-lifetime-too-long' });
  });
});
