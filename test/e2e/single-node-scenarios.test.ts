import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickMapping } from '../../src/client/lookup-client.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

const bob = '+1 415 555 0101';
const bobCsi = 'tel:+14155550101';

describe('single node over real HTTP (issue scenarios)', () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    net = await startDevnet();
  });
  afterAll(async () => {
    await net.close();
  });

  it('R1-R7, R15: Bob publishes on two MSPs; Alice finds both, Default first, verified', async () => {
    const holder = net.holder();
    const att = await net.prove(holder, bob);
    expect(att.csi).toBe(bobCsi);
    const msp1 = net.msp('msp1');
    const msp2 = net.msp('msp2');
    const a = await msp1.submit(
      await msp1.confirm(
        holder.signMapping({
          csi: bob,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/bob',
          tag: 'Default',
          attestation: att,
        }),
      ),
    );
    const b = await msp2.submit(
      await msp2.confirm(
        holder.signMapping({
          csi: bob,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/bob',
          tag: 'business',
          priority: 5,
          attestation: att,
        }),
      ),
    );
    expect(a.state).toBe('active');
    expect(b.state).toBe('active');

    const alice = net.msp('msp3');
    const [result] = await alice.lookup([bob]);
    expect(result?.status).toBe('several');
    expect(result?.mappings.map((m) => m.mapping.body.tag)).toEqual(['Default', 'business']);
    expect(result?.mappings[0]?.dps).toEqual(['dp1']);
    expect(pickMapping(result!)?.mapping.body.msp).toBe('msp1');

    const [compact] = await alice.lookupCompact([bob]);
    expect(compact?.msps.sort()).toEqual(['msp1', 'msp2']);
  });

  it('R14: a number nobody mapped answers none; a holder who opted out answers opt-out (R25)', async () => {
    const carol = net.holder();
    const att = await net.prove(carol, 'carol@Example.ORG');
    expect(att.csi).toBe('mailto:carol@example.org');
    const optOut = await carol.optOut(att);
    expect(optOut.state).toBe('active');
    const alice = net.msp('msp3');
    const results = await alice.lookup(['+1 415 555 0150', 'mailto:Carol@example.org']);
    expect(results.map((r) => r.status)).toEqual(['none', 'opt-out']);
    expect(results[1]?.mappings[0]?.mapping.body.msp).toBeNull();
    const compact = await alice.lookupCompact(['+1 415 555 0150', 'carol@example.org']);
    expect(compact.map((r) => [r.status, r.msps])).toEqual([
      ['none', []],
      ['opt-out', []],
    ]);
    // Withdrawing consent: a later mapping by the same holder replaces the opt-out.
    const msp2 = net.msp('msp2');
    await msp2.submit(
      await msp2.confirm(
        carol.signMapping({
          csi: att.csi,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/carol',
          attestation: att,
        }),
      ),
    );
    expect((await alice.lookup([att.csi]))[0]?.status).toBe('one');
  });

  it('R14, R25: an opt-out seen in a lookup answer and posted again, with no session, after the holder came back is record-stale', async () => {
    const erin = net.holder();
    const att = await net.prove(erin, 'erin@example.org');
    await erin.optOut(att);
    const alice = net.msp('msp3');
    // Anyone with lookups sees the whole signed opt-out.
    const seen = (await alice.lookup([att.csi]))[0]!.mappings[0]!.mapping;
    const msp2 = net.msp('msp2');
    const back = await msp2.submit(
      await msp2.confirm(
        erin.signMapping({ csi: att.csi, msp: 'msp2', ssi: 'mimi://talk.example/u/erin', attestation: att }),
      ),
    );
    const res = await fetch(`${net.url}/v1/holder/opt-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ body: seen.body, attestation: seen.attestation, holderSig: seen.holderSig }),
    });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('record-stale');
    const after = (await alice.lookup([att.csi]))[0]!;
    expect(after.status).toBe('one');
    expect(after.mappings.map((m) => m.id)).toEqual([back.id]);
  });

  it('R19: Bob invalidates one mapping, replaces another, and rotates his key', async () => {
    const daveKey = generateKeyPair();
    const dave = net.holder(daveKey);
    const csi = 'tel:+14155550111';
    const att = await net.prove(dave, csi);
    const msp1 = net.msp('msp1');
    const msp2 = net.msp('msp2');
    const home = await msp1.submit(
      await msp1.confirm(
        dave.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/dave', attestation: att }),
      ),
    );
    const work = await msp2.submit(
      await msp2.confirm(
        dave.signMapping({
          csi,
          msp: 'msp2',
          ssi: 'mimi://talk.example/u/dave',
          tag: 'business',
          attestation: att,
        }),
      ),
    );
    const alice = net.msp('msp3');
    expect((await alice.lookup([csi]))[0]?.status).toBe('several');

    const inv = await dave.invalidate(csi, work.id);
    expect(inv.invalidated).toEqual([work.id]);
    const after = await alice.lookup([csi]);
    expect(after[0]?.status).toBe('one');
    expect(after[0]?.mappings[0]?.id).toBe(home.id);

    // Replacement: a new Default that supersedes the old one.
    const replaced = await msp1.submit(
      await msp1.confirm(
        dave.signMapping({
          csi,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/dave2',
          attestation: att,
          supersedes: home.id,
        }),
      ),
    );
    expect((await alice.lookup([csi]))[0]?.mappings.map((m) => m.id)).toEqual([replaced.id]);

    // Rotation: the old key is retired; the new key keeps Dave's precedence.
    const oldKey = daveKey;
    await dave.rotateKey(csi);
    const oldClient = net.holder(oldKey);
    await expect(oldClient.invalidate(csi, null)).rejects.toMatchObject({ code: 'holder-key-retired' });
    const att2 = await net.prove(dave, csi);
    const rotated = await msp1.submit(
      await msp1.confirm(
        dave.signMapping({
          csi,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/dave',
          attestation: att2,
          supersedes: replaced.id,
        }),
      ),
    );
    expect(rotated.state).toBe('active');
    const served = await alice.lookup([csi]);
    expect(served[0]?.mappings.map((m) => m.mapping.body.holderKey)).toEqual([dave.publicKey]);
  });

  it('R17: a second holder proving the same number later is contested; Bob keeps precedence', async () => {
    const csi = 'tel:+14155550122';
    const bob = net.holder();
    const attBob = await net.prove(bob, csi);
    const msp1 = net.msp('msp1');
    const msp2 = net.msp('msp2');
    const kept = await msp1.submit(
      await msp1.confirm(
        bob.signMapping({ csi, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation: attBob }),
      ),
    );
    const eve = net.holder();
    const attEve = await net.prove(eve, csi);
    const contested = await msp2.submit(
      await msp2.confirm(
        eve.signMapping({ csi, msp: 'msp2', ssi: 'mimi://talk.example/u/eve', attestation: attEve }),
      ),
    );
    expect(contested.state).toBe('contested');
    const alice = net.msp('msp3');
    expect((await alice.lookup([csi]))[0]?.mappings.map((m) => m.id)).toEqual([kept.id]);

    // Bob proves possession again inside the window: the contest is lost for good.
    const fresh = await net.prove(bob, csi);
    const lost = await bob.reaffirm(fresh);
    expect(lost.lost).toEqual([contested.id]);
    net.clock.advance(net.ctx.dp.contestWindow + 1);
    expect(await net.ctx.dp.resolveContests()).toBe(0);
    expect((await alice.lookup([csi]))[0]?.mappings.map((m) => m.id)).toEqual([kept.id]);
  });
});
