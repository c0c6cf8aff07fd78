import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistrySource } from '../../src/registry/source.js';
import { DpNodes } from '../support/dp-nodes.js';
import { startNoticeHook } from '../support/notice-hook.js';

describe('R18, R17 across DPs: a second holder at another DP, and the MSPs told', () => {
  let net: DpNodes;
  let hook: Awaited<ReturnType<typeof startNoticeHook>>;
  let registry: RegistrySource;
  const csi = 'tel:+14155550171';

  beforeAll(async () => {
    hook = await startNoticeHook(
      () => registry.current(),
      () => new Date(net.clock.nowMs()),
    );
    const url = hook.url;
    net = await DpNodes.start(3, { webhooks: { msp1: url, msp2: url } });
    registry = new RegistrySource({
      location: `${net.layout.dir}/registry.json`,
      pinnedKey: net.layout.registryKey,
      now: net.clock.now,
    });
    await registry.load();
  });
  afterAll(async () => {
    await net.close();
    hook.close();
  });

  const ssis = async (via: string, federation: boolean) => {
    const agent = net.msp(via === 'dp1' ? 'msp1' : via === 'dp2' ? 'msp2' : 'msp3');
    return (await agent.lookup([csi], { federation, dpList: 'all' }))[0]!.mappings.map(
      (m) => m.mapping.body.ssi,
    );
  };

  it('both DPs agree the older holder keeps precedence; the MSPs hear of it by signed notice', async () => {
    const bob = net.holder();
    const attBob = await net.prove(bob, csi);
    const bobsMapping = await net.publish(bob, attBob, 'msp1', 'bob'); // dp1

    // A later second: within one second, which holder is older is decided by mapping id.
    net.clock.nextSecond();
    const eve = net.holder();
    const attEve = await net.prove(eve, csi);
    const evesMapping = await net.publish(eve, attEve, 'msp2', 'eve'); // dp2: the first holder it sees
    expect(evesMapping.state).toBe('active');

    // dp2 tells dp1 (R18); dp1 holds the older holder and says so; dp2 then holds Eve as contested.
    await net.settle();
    expect(await ssis('dp2', false)).toEqual(['mimi://chat.example/u/bob']);
    expect(await ssis('dp1', false)).toEqual(['mimi://chat.example/u/bob']);
    expect(await ssis('dp3', true)).toEqual(['mimi://chat.example/u/bob']);

    // Bob's MSP is told his mapping is contested, with the deadline; Eve's MSP that hers is.
    const toMsp1 = hook.notices.find((n) => n.notice.msp === 'msp1');
    expect(toMsp1?.notice).toMatchObject({ kind: 'contested', mappingId: bobsMapping.id, dp: 'dp1' });
    expect(toMsp1!.notice.deadline).toBeGreaterThan(net.clock.now());
    const toMsp2 = hook.notices.find((n) => n.notice.msp === 'msp2');
    expect(toMsp2?.notice).toMatchObject({ kind: 'contested', mappingId: evesMapping.id, dp: 'dp2' });
    // No more personal data than needed: no CSI, no SSI, no key.
    for (const n of hook.notices) {
      expect(n.raw).not.toContain('14155550171');
      expect(n.raw).not.toContain('mimi://');
    }

    // Bob proves possession again at dp1; the reaffirmation is relayed and Eve's contest is lost everywhere.
    const fresh = await net.prove(bob, csi);
    expect((await bob.reaffirm(fresh)).lost.length).toBe(1);
    await net.settle();
    const res = await fetch(`${net.endpoint('dp2')}/.well-known/mimi-discovery`);
    const meta = (await res.json()) as { peering: { outbox: Record<string, number> } };
    expect(Object.values(meta.peering.outbox).every((n) => n === 0)).toBe(true);
    expect(await ssis('dp3', true)).toEqual(['mimi://chat.example/u/bob']);
  });
});
