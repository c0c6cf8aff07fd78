import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpProcesses, eventually } from '../support/dp-processes.js';

// Real processes, on the wall clock: a DP is killed with SIGKILL and restarted from its files.
const summary = (results: Awaited<ReturnType<ReturnType<DpProcesses['msp']>['lookup']>>) =>
  results.map((r) => ({ status: r.status, msps: r.mappings.map((m) => m.mapping.body.msp) }));

describe('a DP killed mid-test (R20: failures are survived, nothing lost or duplicated)', () => {
  let net: DpProcesses;
  beforeAll(async () => {
    net = await DpProcesses.start(3);
  });
  afterAll(() => net.close());

  it('lookups answer within the timeout with the dead peer marked; what was sent meanwhile arrives after both restart', async () => {
    const csi = 'tel:+14155550141';
    const bob = net.holder();
    const att = await net.prove(bob, csi);
    await net.publish(bob, att, 'msp1', 'bob'); // dp1
    await net.publish(bob, att, 'msp2', 'bob', 'business'); // dp2
    await net.kill('dp2');

    const started = Date.now();
    const { results, peers } = await net
      .msp('msp3')
      .lookupWithPeers([csi], { federation: true, dpList: 'all' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(summary(results)).toEqual([{ status: 'one', msps: ['msp1'] }]);
    const dp2 = peers.find((p) => p.dp === 'dp2');
    expect(['error', 'timeout', 'unavailable']).toContain(dp2?.status);
    expect(peers.find((p) => p.dp === 'dp1')?.status).toBe('ok');

    // Bob withdraws everything at dp1 while dp2 is down; the relay waits in dp1's outbox, and
    // survives dp1 itself being killed and restarted before dp2 comes back.
    await bob.invalidate(csi, null);
    await net.kill('dp1');
    await net.startDp('dp1');
    await net.startDp('dp2');
    await eventually(
      async () => (await net.msp('msp2').lookup([csi], { federation: false }))[0]?.status === 'none',
      15_000,
      'the invalidation to reach dp2',
    );
    // Delivered once: dp1's outbox holds nothing for dp2 any more.
    const meta = (await (await fetch(`${net.endpoint('dp1')}/.well-known/mimi-discovery`)).json()) as {
      peering: { outbox: Record<string, number> };
    };
    await eventually(
      async () => {
        const m = (await (
          await fetch(`${net.endpoint('dp1')}/.well-known/mimi-discovery`)
        ).json()) as typeof meta;
        return (m.peering.outbox.dp2 ?? 0) === 0;
      },
      10_000,
      'the outbox to drain',
    );
  });
});
