import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { SignPurpose, signObject } from '../../src/crypto/sign.js';
import {
  checkSubmission,
  decidePrecedence,
  decideReaffirmation,
  decideResubmission,
  foreignIgnored,
  invalidationTargets,
  liveAt,
  promotionIfVacant,
  removedByCsipEvent,
  resolveContest,
  type SubmissionFacts,
  withdrawnByAccept,
} from '../../src/dp/precedence.js';
import { countersign } from '../../src/registry/verify-mapping.js';
import type { StoredMapping } from '../../src/store/store.js';
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

// The decisions alone (STYLE.md §17): rows in, transitions out, no store, no clock but `now`.
const now = 1_000_000;
const window = 3600;

/** A stored row of holder group `group`; its signed JSON carries what the decisions read of it. */
function row(
  id: string,
  group: string,
  over: Partial<StoredMapping> & { createdAt?: number; proofAt?: number } = {},
) {
  const { createdAt = now - 100, proofAt = now - 200, ...rest } = over;
  const m: StoredMapping = {
    id,
    csi: 'tel:+14155550199',
    holderGroup: group,
    holderKey: group,
    msp: 'msp1',
    tag: 'Default',
    priority: 0,
    optOut: false,
    level: 'otp',
    state: 'active',
    acceptedAt: now - 100,
    expiresAt: now + 86_400,
    contestDeadline: null,
    bodyDigest: `d-${id}`,
    json: JSON.stringify({ body: { createdAt }, attestation: { issuedAt: proofAt } }),
    ...rest,
  };
  return m;
}

const candidate = (group: string, over: Partial<StoredMapping> = {}) =>
  row('new', group, { acceptedAt: now, ...over });
const place = (live: StoredMapping[], c: StoredMapping, foreign = false) =>
  decidePrecedence({ live, candidate: c, now, contestWindow: window, foreign });

describe('R17 precedence, decided alone', () => {
  it('R17: with no incumbent the candidate is served and nothing else moves', () => {
    expect(place([], candidate('bob'))).toEqual({
      state: 'active',
      contestDeadline: null,
      transitions: [],
      notices: [],
    });
  });

  it('R17: a second mapping of the same holder is served beside the first', () => {
    expect(place([row('a', 'bob')], candidate('bob'))).toMatchObject({
      state: 'active',
      transitions: [],
      notices: [],
    });
  });

  it('R17: the older holder keeps precedence: the newer is contested until now + window, the incumbent MSP told', () => {
    expect(place([row('a', 'bob')], candidate('eve', { msp: 'msp2' }))).toEqual({
      state: 'contested',
      contestDeadline: now + window,
      transitions: [],
      notices: [{ msp: 'msp1', kind: 'contested', mappingId: 'a', deadline: now + window }],
    });
  });

  it('R17: in the same second, a local newcomer is still the newer holder (contested)', () => {
    const live = [row('z', 'bob', { acceptedAt: now })];
    expect(place(live, candidate('eve', { id: 'a' })).state).toBe('contested');
  });

  it("R17: a contender's further mappings share its running deadline, not a fresh window", () => {
    const live = [row('a', 'bob'), row('e1', 'eve', { state: 'contested', contestDeadline: now + 10 })];
    expect(place(live, candidate('eve'))).toMatchObject({ state: 'contested', contestDeadline: now + 10 });
  });

  it("R17: a stricter proof (CSIP) displaces the incumbent at once and serves its holder's contenders", () => {
    const live = [
      row('a', 'bob'),
      row('b', 'bob', { msp: null, tag: 'x' }),
      row('c1', 'carol', { state: 'contested', contestDeadline: now + 10 }),
    ];
    expect(place(live, candidate('carol', { level: 'csip' }))).toEqual({
      state: 'active',
      contestDeadline: null,
      transitions: [
        { ids: ['a', 'b'], to: 'displaced' },
        { ids: ['c1'], to: 'active' },
      ],
      // An opt-out or an MSP-less row has nobody to tell.
      notices: [{ msp: 'msp1', kind: 'displaced', mappingId: 'a', deadline: null }],
    });
  });

  it('R17: an equal proof does not displace; a weaker one against a CSIP incumbent neither', () => {
    expect(place([row('a', 'bob', { level: 'csip' })], candidate('eve', { level: 'csip' })).state).toBe(
      'contested',
    );
    expect(place([row('a', 'bob', { level: 'csip' })], candidate('eve')).state).toBe('contested');
  });

  it("R17, R18: a peer's holder accepted first takes precedence here; ours becomes the contender", () => {
    const live = [row('a', 'bob', { acceptedAt: now - 10 })];
    expect(place(live, candidate('eve', { acceptedAt: now - 20 }), true)).toEqual({
      state: 'active',
      contestDeadline: null,
      transitions: [{ ids: ['a'], to: 'contested', contestDeadline: now + window }],
      notices: [{ msp: 'msp1', kind: 'contested', mappingId: 'a', deadline: now + window }],
    });
  });

  it('R17, R18: accepted in the same second at two DPs, the smaller mapping id is the older', () => {
    const live = [row('m', 'bob', { acceptedAt: now - 10 })];
    expect(place(live, candidate('eve', { id: 'a', acceptedAt: now - 10 }), true).state).toBe('active');
    expect(place(live, candidate('eve', { id: 'z', acceptedAt: now - 10 }), true).state).toBe('contested');
  });

  it('R17, R18: an older peer holder with a weaker proof than ours does not take precedence', () => {
    const live = [row('a', 'bob', { level: 'csip', acceptedAt: now - 10 })];
    expect(place(live, candidate('eve', { acceptedAt: now - 20 }), true).state).toBe('contested');
  });

  it('R17: an expired incumbent holds nothing: a row expiring this very second is no longer live', () => {
    const rows = [row('a', 'bob', { expiresAt: now })];
    expect(liveAt(rows, now)).toEqual([]);
    expect(liveAt(rows, now - 1)).toHaveLength(1);
    expect(place(liveAt(rows, now), candidate('eve')).state).toBe('active');
  });
});

describe('R17 contests, decided alone', () => {
  const contested = (id: string, group: string, deadline: number, acceptedAt = now - 50) =>
    row(id, group, { state: 'contested', contestDeadline: deadline, acceptedAt });

  it('R17: before its deadline a contest stands; at the deadline second the contender wins', () => {
    const live = [row('a', 'bob'), contested('e', 'eve', now + 1)];
    expect(resolveContest({ live, now, contestWindow: window })).toBeUndefined();
    expect(resolveContest({ live, now: now + 1, contestWindow: window })).toEqual({
      winner: 'e',
      displaced: ['a'],
      transitions: [
        { ids: ['a'], to: 'displaced' },
        { ids: ['e'], to: 'active' },
      ],
      notices: [{ msp: 'msp1', kind: 'displaced', mappingId: 'a', deadline: null }],
    });
  });

  it('R17: other contenders then contest the new incumbent with a fresh window', () => {
    const live = [row('a', 'bob'), contested('e', 'eve', now), contested('c', 'carol', now + 5)];
    expect(resolveContest({ live, now, contestWindow: window })?.transitions).toEqual([
      { ids: ['a'], to: 'displaced' },
      { ids: ['e'], to: 'active' },
      { ids: ['c'], to: 'contested', contestDeadline: now + window },
    ]);
  });

  it("R17: when the incumbent is gone, the oldest contender's holder is served; while one is served, nothing moves", () => {
    const live = [
      contested('e1', 'eve', now + 9, now - 30),
      contested('c', 'carol', now + 9, now - 20),
      contested('e2', 'eve', now + 9, now - 10),
    ];
    expect(promotionIfVacant(live)).toEqual([{ ids: ['e1', 'e2'], to: 'active' }]);
    expect(promotionIfVacant([row('a', 'bob'), ...live])).toEqual([]);
    expect(promotionIfVacant([])).toEqual([]);
  });

  it('R17: a reaffirmation wins against contests begun no later than its proof, not earlier proofs', () => {
    const live = [
      row('a', 'bob'),
      contested('e', 'eve', now + 9, now - 50),
      contested('c', 'carol', now + 9, now - 40),
    ];
    expect(decideReaffirmation({ live, group: 'bob', proofIssuedAt: now - 60 })).toEqual({
      ok: true,
      lost: [],
    });
    // Same second as the contest: the proof answers it.
    expect(decideReaffirmation({ live, group: 'bob', proofIssuedAt: now - 50 })).toEqual({
      ok: true,
      lost: ['e'],
    });
    expect(decideReaffirmation({ live, group: 'bob', proofIssuedAt: now })).toEqual({
      ok: true,
      lost: ['e', 'c'],
    });
  });

  it('R17: a holder with nothing served has nothing to defend (mapping-not-found)', () => {
    const live = [row('a', 'bob'), contested('e', 'eve', now + 9)];
    expect(decideReaffirmation({ live, group: 'eve', proofIssuedAt: now })).toMatchObject({
      ok: false,
      code: 'mapping-not-found',
    });
  });
});

describe("R7, R14, R16, R19, R25: a submission against the holder's own rows, decided alone", () => {
  const facts = (over: Partial<SubmissionFacts> = {}): SubmissionFacts => ({
    holderKey: 'bob',
    msp: 'msp2',
    tag: 'work',
    createdAt: now,
    supersedes: null,
    optOut: false,
    proofIssuedAt: now - 10,
    ...over,
  });
  const check = (
    live: StoredMapping[],
    s: SubmissionFacts,
    extra: { cutoff?: number | null; retired?: boolean; group?: string } = {},
  ) =>
    checkSubmission({
      live,
      cutoff: extra.cutoff ?? null,
      key:
        extra.group === undefined && extra.retired === undefined
          ? undefined
          : {
              csi: 'c',
              key: s.holderKey,
              group: extra.group ?? s.holderKey,
              retired: extra.retired ?? false,
            },
      submission: s,
    });
  const code = (r: ReturnType<typeof check>) => (r.ok ? 'ok' : r.code);

  it('R16: a proof made before or in the very second of a CSIP event is void', () => {
    expect(code(check([], facts({ proofIssuedAt: now - 10 }), { cutoff: now - 10 }))).toBe(
      'attestation-superseded',
    );
    expect(code(check([], facts({ proofIssuedAt: now - 9 }), { cutoff: now - 10 }))).toBe('ok');
  });

  it('R19: a rotated-out key is refused; a rotated-in key speaks for its group', () => {
    expect(code(check([], facts(), { retired: true }))).toBe('holder-key-retired');
    const r = check([row('a', 'first', { msp: 'msp1', tag: 'work' })], facts({ msp: 'msp1' }), {
      group: 'first',
    });
    expect(code(r)).toBe('mapping-exists');
  });

  it("R14, R19, R25: a body older than the holder's newest live one is stale; the same second is not", () => {
    const live = [row('a', 'bob', { createdAt: now - 5 })];
    expect(code(check(live, facts({ createdAt: now - 6 })))).toBe('record-stale');
    expect(code(check(live, facts({ createdAt: now - 5 })))).toBe('ok');
    // Another holder's newer body does not make this one stale.
    expect(code(check([row('e', 'eve', { createdAt: now })], facts({ createdAt: now - 6 })))).toBe('ok');
  });

  it('R19: supersedes must name a live mapping of the same holder', () => {
    const live = [row('a', 'bob'), row('e', 'eve')];
    expect(code(check(live, facts({ supersedes: 'e' })))).toBe('supersedes-invalid');
    expect(check(live, facts({ supersedes: 'a', tag: 'Default' }))).toMatchObject({
      ok: true,
      replaced: ['a'],
    });
  });

  it('R7: one Default per holder and CSI; the same MSP and tag twice is refused; an opt-out is neither', () => {
    const live = [row('a', 'bob', { tag: 'Default' }), row('b', 'bob', { msp: 'msp2', tag: 'work' })];
    expect(code(check(live, facts({ tag: 'Default' })))).toBe('default-tag-taken');
    expect(code(check(live, facts()))).toBe('mapping-exists');
    expect(code(check(live, facts({ msp: null, tag: 'Default', optOut: true })))).toBe('ok');
    // The holder's opt-out does not hold a tag.
    expect(
      code(check([row('o', 'bob', { msp: null, optOut: true })], facts({ tag: 'Default', msp: 'msp1' }))),
    ).toBe('ok');
  });

  it('the checks run in order: the CSIP event first, then the key, then freshness, supersedes, tags', () => {
    const live = [row('a', 'bob', { createdAt: now, tag: 'work', msp: 'msp2' })];
    const all = facts({ createdAt: now - 1, supersedes: 'x', proofIssuedAt: now - 10 });
    expect(code(check(live, all, { cutoff: now, retired: true }))).toBe('attestation-superseded');
    expect(code(check(live, all, { retired: true }))).toBe('holder-key-retired');
    expect(code(check(live, all))).toBe('record-stale');
    expect(code(check(live, { ...all, createdAt: now }))).toBe('supersedes-invalid');
    expect(code(check(live, { ...all, createdAt: now, supersedes: null }))).toBe('mapping-exists');
  });

  it("R14, R25: a served opt-out withdraws all of the holder's rows; a served mapping withdraws the opt-out", () => {
    const mine = [
      row('a', 'bob'),
      row('b', 'bob', { tag: 'x' }),
      row('o', 'bob', { optOut: true, msp: null }),
    ];
    expect(withdrawnByAccept({ mine, replaced: ['a'] }, true, 'active')).toEqual(['a', 'b', 'o']);
    expect(withdrawnByAccept({ mine, replaced: [] }, false, 'active')).toEqual(['o']);
    // R17: a contested body replaces what it names and nothing else.
    expect(withdrawnByAccept({ mine, replaced: ['a'] }, true, 'contested')).toEqual(['a']);
  });

  it('R14, R19: a body withdrawn here stays withdrawn; any other earlier acceptance is a duplicate', () => {
    expect(decideResubmission({ state: 'superseded' })).toMatchObject({ ok: false, code: 'record-stale' });
    expect(decideResubmission({ state: 'invalidated' })).toMatchObject({ ok: false, code: 'record-stale' });
    for (const state of ['active', 'contested', 'displaced', 'lost', 'removed'] as const)
      expect(decideResubmission({ state })).toEqual({ ok: true });
  });

  it('R19, R25: an invalidation covers what was accepted by its signing (with skew), all or the one named', () => {
    const live = [
      row('a', 'bob', { acceptedAt: now - 10 }),
      row('b', 'bob', { acceptedAt: now + 5 }),
      row('e', 'eve'),
    ];
    const inv = (target: string | null) =>
      invalidationTargets({ live, group: 'bob', target, issuedAt: now, clockSkew: 5 });
    expect(inv(null)).toEqual({ ok: true, targets: ['a', 'b'] });
    expect(invalidationTargets({ live, group: 'bob', target: null, issuedAt: now, clockSkew: 4 })).toEqual({
      ok: true,
      targets: ['a'],
    });
    expect(inv('e')).toMatchObject({ ok: false, code: 'mapping-not-found' });
  });
});

describe('R16, R18, R24: CSIP events and peer copies, decided alone', () => {
  it('R16: disconnection voids every proof no newer than the event, the same second included', () => {
    const live = [row('a', 'bob', { proofAt: now - 10 }), row('b', 'eve', { proofAt: now - 9 })];
    const removed = removedByCsipEvent({
      live,
      kind: 'disconnected',
      at: now - 10,
      donor: null,
      donorIsMsp: false,
    });
    expect(removed.map((m) => m.id)).toEqual(['a']);
  });

  it("R24: a port removes the donor MSP's rows only, and nothing when the donor is no MSP", () => {
    const live = [row('a', 'bob', { msp: 'msp1' }), row('b', 'bob', { msp: 'msp2', tag: 'x' })];
    const port = (donor: string | null, donorIsMsp: boolean) =>
      removedByCsipEvent({ live, kind: 'ported', at: now, donor, donorIsMsp }).map((m) => m.id);
    expect(port('msp1', true)).toEqual(['a']);
    expect(port('carrier', false)).toEqual([]);
    expect(port(null, false)).toEqual([]);
  });

  it("R18: a peer's copy is kept only when it contests something held here", () => {
    const base = { key: undefined, cutoff: null, holderKey: 'eve', proofIssuedAt: now - 10 };
    expect(foreignIgnored({ ...base, live: [] })).toEqual({ ignored: true });
    expect(foreignIgnored({ ...base, live: [row('e', 'eve')] })).toEqual({ ignored: true });
    expect(foreignIgnored({ ...base, live: [row('a', 'bob')] })).toEqual({ ignored: false, group: 'eve' });
    expect(foreignIgnored({ ...base, live: [row('a', 'bob')], cutoff: now - 10 })).toEqual({ ignored: true });
    expect(
      foreignIgnored({
        ...base,
        live: [row('a', 'bob')],
        key: { csi: 'c', key: 'eve', group: 'eve', retired: true },
      }),
    ).toEqual({ ignored: true });
  });
});

describe('R17: the older holder keeps precedence unless ..., as decisions chained', () => {
  const apply = (rows: StoredMapping[], transitions: { ids: string[]; to: StoredMapping['state'] }[]) =>
    rows.map((m) => {
      const t = transitions.findLast((t) => t.ids.includes(m.id));
      return t === undefined ? m : { ...m, state: t.to };
    });
  const live = (rows: StoredMapping[]) => rows.filter((m) => m.state === 'active' || m.state === 'contested');
  const bob = row('a', 'bob', { proofAt: now - 500 });
  const eve = row('e', 'eve', { state: 'contested', contestDeadline: now + window, proofAt: now - 50 });

  it('... the original holder invalidated it: the contender is served at once', () => {
    const found = invalidationTargets({
      live: [bob, eve],
      group: 'bob',
      target: null,
      issuedAt: now,
      clockSkew: 0,
    });
    expect(found).toEqual({ ok: true, targets: ['a'] });
    const after = live(apply([bob, eve], [{ ids: ['a'], to: 'invalidated' }]));
    expect(promotionIfVacant(after)).toEqual([{ ids: ['e'], to: 'active' }]);
  });

  it('... the CSIP reported reassignment: proofs older than the event go, a newer contender is served', () => {
    const removed = removedByCsipEvent({
      live: [bob, eve],
      kind: 'reassigned',
      at: now - 100,
      donor: null,
      donorIsMsp: false,
    });
    expect(removed.map((m) => m.id)).toEqual(['a']);
    const after = live(apply([bob, eve], [{ ids: ['a'], to: 'removed' }]));
    expect(promotionIfVacant(after)).toEqual([{ ids: ['e'], to: 'active' }]);
  });

  it('... the newer one has a stricter proof: displaced at once, no window', () => {
    const placed = decidePrecedence({
      live: [bob],
      candidate: candidate('carol', { level: 'csip' }),
      now,
      contestWindow: window,
      foreign: false,
    });
    expect(placed).toMatchObject({ state: 'active', transitions: [{ ids: ['a'], to: 'displaced' }] });
  });

  it('otherwise the incumbent keeps it: a reaffirmation in the window and the contest is lost', () => {
    expect(decideReaffirmation({ live: [bob, eve], group: 'bob', proofIssuedAt: now })).toEqual({
      ok: true,
      lost: ['e'],
    });
    expect(resolveContest({ live: [bob], now: now + window, contestWindow: window })).toBeUndefined();
  });
});
