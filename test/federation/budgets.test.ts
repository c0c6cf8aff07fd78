import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fanout, forwardBudget } from '../../src/federation/fanout.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { DpProcesses } from '../support/dp-processes.js';
import { Federation } from '../support/federation.js';

describe('R12, R13: separate budgets for non-default and forwarded queries', () => {
  let net: DpProcesses;
  const csi = 'tel:+14155550181';
  beforeAll(async () => {
    net = await DpProcesses.start(2, {
      configure: (dp, config) => ({
        ...config,
        limits:
          dp === 'dp2'
            ? { nonDefaultPointsPerMinute: 3 } // R12 at dp2
            : { peerPointsPerMinute: 5 }, // R13 at dp1: what dp2 may ask of it
      }),
    });
    const holder = net.holder();
    await net.publish(holder, await net.prove(holder, csi), 'msp1', 'bob');
  });
  afterAll(() => net.close());

  it('non-default lookups run out of their own budget while default ones go on (R12)', async () => {
    const msp2 = net.msp('msp2');
    for (let i = 0; i < 3; i++) await msp2.lookup([csi], { federation: true, dpList: ['dp1'] });
    await expect(msp2.lookup([csi], { federation: true, dpList: ['dp1'] })).rejects.toMatchObject({
      code: 'rate-limited',
    });
    // The default (the devnet's federation default with the preferred peers) is still served.
    expect((await msp2.lookup([csi]))[0]?.status).toBe('one');
  });

  it('a DP limits what each peer may ask of it; the asker reports the peer as rate-limited (R13)', async () => {
    const msp2 = net.msp('msp2');
    let last: string | undefined;
    for (let i = 0; i < 8 && last !== 'rate-limited'; i++) {
      const { peers } = await msp2.lookupWithPeers([csi]);
      last = peers.find((p) => p.dp === 'dp1')?.status;
    }
    expect(last).toBe('rate-limited');
    const meta = (await (await fetch(`${net.endpoint('dp1')}/.well-known/mimi-discovery`)).json()) as {
      peering: { peerPointsPerMinute: number; forwardBudgetPerMinute: Record<string, number> };
    };
    expect(meta.peering.peerPointsPerMinute).toBe(5);
    expect(meta.peering.forwardBudgetPerMinute).toEqual(forwardBudget);
  });

  it('forwarding to a low-throughput peer stops at its class budget, without calling it (R13)', async () => {
    const fed = new Federation();
    const unsigned = {
      ...fed.unsigned,
      dps: [
        ...fed.unsigned.dps,
        {
          ...fed.unsigned.dps[0]!,
          id: 'slowdp',
          endpoint: 'http://127.0.0.1:9',
          throughputClass: 'low' as const,
        },
      ],
    };
    const registry = Registry.open(
      signRegistry(unsigned, fed.registryKey.privateKey),
      fed.registryKey.publicKey,
      { now: fed.clock.now() },
    );
    const fanout = new Fanout({
      self: { id: 'dp1', key: fed.dpKey.privateKey },
      registry: () => registry,
      policy: {},
      now: fed.clock.now,
      breakerFailures: 1_000_000,
    });
    const batch = Array.from({ length: 100 }, (_, i) => `tel:+1415555${String(3000 + i)}`);
    let statuses: string[] = [];
    for (let i = 0; i < forwardBudget.low / 100 + 1; i++)
      statuses = (await fanout.lookup(batch, ['slowdp'])).peers.map((p) => p.status);
    expect(statuses).toEqual(['rate-limited']);
    await fed.close();
  });
});
