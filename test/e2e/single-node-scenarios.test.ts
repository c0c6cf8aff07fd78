import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickMapping } from '../../src/client/lookup-client.js';
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
});
