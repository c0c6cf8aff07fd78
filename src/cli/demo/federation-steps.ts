import { join } from 'node:path';
import { SignPurpose, signObject } from '../../crypto/sign.js';
import { readKeyFile } from '../args.js';
import { ensureDevnet } from '../devnet.js';
import { openDevnet } from '../devnet-access.js';
import { prove, publish, shown } from '../devnet-holder.js';
import { startNode } from '../node.js';
import { freePort } from '../ports.js';
import { type Demo, expect } from './kit.js';

/** Steps 17-19: three DPs answer as one, a disconnection reaches them all, a DP goes down. */
export async function federationSteps(d: Demo): Promise<void> {
  const { dir, fedNodes, step } = d;
  // Federation: three DPs, each in this process on its own port and SQLite file.
  const fedDir = join(dir, 'federation');
  ensureDevnet(fedDir, { port: await freePort(3), dps: 3 });
  const fed = openDevnet(fedDir);
  for (const d of fed.layout.dps) fedNodes.push(await startNode(d.configFile, { logLevel: 'silent' }));
  const bobFed = 'tel:+14155550111';

  await step(
    'Three DPs answer as one: a federated lookup',
    `A second devnet in ${shown(fedDir)} runs three DPs: msp1 submits to dp1, msp2 to dp2 and Alice's\n` +
      'msp3 asks dp3. Bob publishes on msp1 and msp2, so his mappings sit at dp1 and dp2. R10: with\n' +
      'federation on, dp3 asks its peers in parallel, each call signed with its registry key (RFC 9421),\n' +
      'verifies every mapping they return, and lists which DP returned each one (R15). Off, it answers alone.',
    async () => {
      await prove(fed, { csi: bobFed });
      await publish(fed, { csi: bobFed, msp: 'msp1', user: 'bob', tag: 'Default' });
      await publish(fed, { csi: bobFed, msp: 'msp2', user: 'bob', tag: 'business', priority: 5 });
      const on = await fed.msp('msp3').lookupWithPeers([bobFed], { federation: true, dpList: 'all' });
      const off = await fed.msp('msp3').lookup([bobFed], { federation: false });
      const where = on.results[0]!.mappings.map((m) => `${m.mapping.body.msp} via ${m.dps.join(',')}`);
      expect(
        on.results[0]?.status === 'several' && off[0]?.status === 'none',
        'several with federation, none without',
      );
      return [
        `federation on:  ${on.results[0]!.status}: ${where.join('; ')}`,
        `peers:          ${on.peers.map((p) => `${p.dp} ${p.status} ${p.ms ?? '?'} ms`).join(', ')}`,
        `federation off: ${off[0]!.status} (dp3 holds nothing for Bob itself)`,
      ];
    },
  );

  await step(
    'The number is disconnected: every DP forgets Bob',
    'R16: the CSIP that issued the number signs a "disconnected" event and posts it to dp2. dp2 removes\n' +
      "Bob's mapping and relays the CSIP-signed event through its durable outbox; dp1 checks the CSIP's\n" +
      'signature itself and removes its mapping too. A DP that is down gets it when it comes back.',
    async () => {
      const key = readKeyFile(fed.layout.csip.keyFile, 'CSIP key').privateKey;
      const unsigned = {
        v: 1 as const,
        csi: bobFed,
        kind: 'disconnected' as const,
        at: Math.floor(Date.now() / 1000),
        issuer: 'csip1',
      };
      const started = Date.now();
      const res = await fetch(`${fed.layout.dps[1]!.endpoint}/v1/csip/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...unsigned, sig: signObject(SignPurpose.CsipEvent, unsigned, key) }),
      });
      expect(res.status === 201, `the event accepted, got HTTP ${res.status}`);
      let atDp1 = 'one';
      while (atDp1 !== 'none' && Date.now() - started < 5000) {
        atDp1 = (await fed.msp('msp1').lookup([bobFed], { federation: false }))[0]!.status;
      }
      const ms = Date.now() - started;
      const after = await fed.msp('msp3').lookup([bobFed], { federation: true, dpList: 'all' });
      expect(atDp1 === 'none' && after[0]?.status === 'none', 'Bob gone at dp1 and in a federated lookup');
      return [
        `removed at dp2 at once, at dp1 ${ms} ms after the event; a federated lookup now says ${after[0]!.status}`,
      ];
    },
  );

  await step(
    'A DP goes down: lookups still answer',
    'R20: the federation survives failures. dp2 stops; a federated lookup from dp3 answers within the\n' +
      "peer timeout with what dp1 has, and reports dp2's status instead of failing.",
    async () => {
      const carolFed = 'tel:+14155550112';
      await prove(fed, { csi: carolFed });
      await publish(fed, { csi: carolFed, msp: 'msp1', user: 'carol', tag: 'Default' });
      await fedNodes[1]!.close();
      const started = Date.now();
      const r = await fed.msp('msp3').lookupWithPeers([carolFed], { federation: true, dpList: 'all' });
      const dp2 = r.peers.find((p) => p.dp === 'dp2');
      expect(
        r.results[0]?.status === 'one' && dp2 !== undefined && dp2.status !== 'ok',
        'an answer, with dp2 marked down',
      );
      return [
        `answered in ${Date.now() - started} ms: ${r.results[0]!.status} (Carol on msp1 via dp1)`,
        `peers: ${r.peers.map((p) => `${p.dp} ${p.status}${p.code === undefined ? '' : ` (${p.code})`}`).join(', ')}`,
      ];
    },
  );
}
