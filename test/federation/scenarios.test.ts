import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpNodes } from '../support/dp-nodes.js';

const summary = (results: Awaited<ReturnType<ReturnType<DpNodes['msp']>['lookup']>>) =>
  results.map((r) => ({ status: r.status, msps: r.mappings.map((m) => m.mapping.body.msp) }));

describe('federated lookup across three DPs (R10, R15)', () => {
  let net: DpNodes;
  const bob = 'tel:+14155550101';
  beforeAll(async () => {
    net = await DpNodes.start(3);
    const holder = net.holder();
    const att = await net.prove(holder, bob);
    await net.publish(holder, att, 'msp1', 'bob'); // msp1 lives at dp1
    await net.publish(holder, att, 'msp2', 'bob', 'business'); // msp2 lives at dp2
  });
  afterAll(() => net.close());

  it('Alice at dp3 finds both with federation on, each mapping naming the DP that returned it', async () => {
    const { results, peers } = await net
      .msp('msp3')
      .lookupWithPeers([bob], { federation: true, dpList: 'all' });
    expect(summary(results)).toEqual([{ status: 'several', msps: ['msp1', 'msp2'] }]);
    expect(results[0]!.mappings.map((m) => m.dps)).toEqual([['dp1'], ['dp2']]);
    expect(peers.map((p) => [p.dp, p.status]).sort()).toEqual([
      ['dp1', 'ok'],
      ['dp2', 'ok'],
    ]);
  });

  it('federation off answers from dp3 alone; the federation default applies when unsaid (R11)', async () => {
    expect(summary(await net.msp('msp3').lookup([bob], { federation: false }))).toEqual([
      { status: 'none', msps: [] },
    ]);
    // The devnet registry sets federation on by default.
    expect(summary(await net.msp('msp3').lookup([bob]))[0]?.status).toBe('several');
    const meta = (await (await fetch(`${net.endpoint('dp3')}/.well-known/mimi-discovery`)).json()) as {
      defaults: { federation: boolean };
    };
    expect(meta.defaults.federation).toBe(true);
  });

  it('mspFilter keeps only the named MSPs; an explicit dpList is obeyed', async () => {
    const alice = net.msp('msp3');
    expect(summary(await alice.lookup([bob], { federation: true, mspFilter: ['msp2'] }))).toEqual([
      { status: 'one', msps: ['msp2'] },
    ]);
    const { results, peers } = await alice.lookupWithPeers([bob], { federation: true, dpList: ['dp2'] });
    expect(summary(results)).toEqual([{ status: 'one', msps: ['msp2'] }]);
    expect(peers.map((p) => p.dp)).toEqual(['dp2']);
    await expect(alice.lookup([bob], { federation: true, dpList: ['dp9'] })).rejects.toMatchObject({
      code: 'dp-not-registered',
    });
  });
});

describe('the number-reassignment timeline across DPs (R16, R17, R18)', () => {
  let net: DpNodes;
  const csi = 'tel:+14155550199';
  beforeAll(async () => {
    net = await DpNodes.start(3);
  });
  afterAll(() => net.close());

  const federated = async () =>
    summary(await net.msp('msp3').lookup([csi], { federation: true, dpList: 'all' }));
  const holders = async () =>
    (await net.msp('msp3').lookup([csi], { federation: true, dpList: 'all' }))[0]!.mappings.map(
      (m) => m.mapping.body.ssi,
    );

  it('shows exactly what the timeline says at every step, never both holders', async () => {
    const bob = net.holder();
    const attBob = await net.prove(bob, csi);
    await net.publish(bob, attBob, 'msp1', 'bob');
    expect(await holders()).toEqual(['mimi://chat.example/u/bob']);

    // The CSIP reports the number disconnected, at dp2: dp1 hears of it through the outbox.
    const disconnectedAt = net.clock.now();
    expect((await net.csipEvent('dp2', { csi, kind: 'disconnected', at: disconnectedAt })).status).toBe(201);
    await net.settle();
    expect(await federated()).toEqual([{ status: 'none', msps: [] }]);

    // Bob's MSP cannot bring the stale proof back.
    await expect(net.publish(bob, attBob, 'msp1', 'bob', 'again')).rejects.toMatchObject({
      code: 'attestation-superseded',
    });

    net.clock.nextSecond();
    expect((await net.csipEvent('dp3', { csi, kind: 'reassigned', at: net.clock.now() })).status).toBe(201);
    await net.settle();
    expect(await federated()).toEqual([{ status: 'none', msps: [] }]);

    net.clock.nextSecond();
    const carol = net.holder();
    const attCarol = await net.prove(carol, csi);
    await net.publish(carol, attCarol, 'msp2', 'carol'); // at dp2
    expect(await holders()).toEqual(['mimi://talk.example/u/carol']);
  });
});

describe('number portability, the four cases (R24)', () => {
  let net: DpNodes;
  beforeAll(async () => {
    net = await DpNodes.start(2);
  });
  afterAll(() => net.close());

  async function bobOnTwo(csi: string) {
    const bob = net.holder();
    const att = await net.prove(bob, csi);
    await net.publish(bob, att, 'msp1', 'bob');
    await net.publish(bob, att, 'msp2', 'bob', 'business');
    return { bob, att };
  }
  const msps = async (csi: string) =>
    (await net.msp('msp3', 'dp1').lookup([csi], { federation: true, dpList: 'all' }))[0]!.mappings.map(
      (m) => m.mapping.body.msp,
    );

  it('donor is an MSP: its mapping goes', async () => {
    const csi = 'tel:+14155550131';
    await bobOnTwo(csi);
    expect(
      (
        await net.csipEvent('dp1', {
          csi,
          kind: 'ported',
          at: net.clock.now(),
          donor: 'msp1',
          recipient: 'telco-b',
        })
      ).status,
    ).toBe(201);
    await net.settle();
    expect(await msps(csi)).toEqual(['msp2']);
  });

  it('recipient is an MSP: it may add one, nothing else changes', async () => {
    const csi = 'tel:+14155550132';
    const bob = net.holder();
    const att = await net.prove(bob, csi);
    await net.publish(bob, att, 'msp1', 'bob');
    await net.csipEvent('dp1', {
      csi,
      kind: 'ported',
      at: net.clock.now(),
      donor: 'telco-a',
      recipient: 'msp2',
    });
    expect(await msps(csi)).toEqual(['msp1']);
    await net.publish(bob, att, 'msp2', 'bob', 'business');
    expect(await msps(csi)).toEqual(['msp1', 'msp2']);
  });

  it('both are MSPs: the provider changes', async () => {
    const csi = 'tel:+14155550133';
    const bob = net.holder();
    const att = await net.prove(bob, csi);
    await net.publish(bob, att, 'msp1', 'bob');
    await net.csipEvent('dp2', {
      csi,
      kind: 'ported',
      at: net.clock.now(),
      donor: 'msp1',
      recipient: 'msp2',
    });
    await net.settle();
    expect(await msps(csi)).toEqual([]);
    await net.publish(bob, att, 'msp2', 'bob', 'business');
    expect(await msps(csi)).toEqual(['msp2']);
  });

  it('neither is an MSP: no change', async () => {
    const csi = 'tel:+14155550134';
    await bobOnTwo(csi);
    const before = await msps(csi);
    const res = await net.csipEvent('dp1', {
      csi,
      kind: 'ported',
      at: net.clock.now(),
      donor: 'telco-a',
      recipient: 'telco-b',
    });
    expect(await res.json()).toMatchObject({ removed: [] });
    expect(await msps(csi)).toEqual(before);
  });

  it('events from an unregistered or out-of-scope CSIP, or forged, are refused', async () => {
    const csi = 'tel:+14155550135';
    const forged = await fetch(`${net.endpoint('dp1')}/v1/csip/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        v: 1,
        csi,
        kind: 'disconnected',
        at: 1,
        issuer: 'csip1',
        sig: `${'A'.repeat(85)}A`,
      }),
    });
    expect(await forged.json()).toMatchObject({ code: 'csip-signature-invalid' });
    const outOfScope = await net.csipEvent('dp1', { csi: 'tel:+442079460000', kind: 'disconnected', at: 1 });
    expect(await outOfScope.json()).toMatchObject({ code: 'csip-not-registered' });
  });
});
