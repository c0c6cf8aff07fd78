import { lookupNativeDns } from '../../client/dns-lookup.js';
import { splitTxt } from '../../protocol/dns-names.js';
import { nowSeconds } from '../../protocol/encoding.js';
import { writeJson } from '../args.js';
import { openHolder, prove, publish, shown } from '../devnet-holder.js';
import { compactText, lookupCompact, lookupVerbose, privateText, verboseText } from '../lookup.js';
import { lookupPrivate } from '../lookup-private.js';
import { bob, bobCsi, type Demo, expect, nobody } from './kit.js';

/** Steps 1-8: Bob proves and publishes; lookups verbose, compact, private, through a relay, through DNS. */
export async function lookupSteps(d: Demo): Promise<void> {
  const { net, node, dpLines, relayLines, egress, relayUrl, dnsPort, zone, dnsZones, step, made } = d;
  await step(
    `Bob proves he holds ${bob}`,
    'R1: a DP accepts a mapping only with proof that the holder has the number. The verifier sends\n' +
      'a one-time code; on the devnet the "SMS" lands in outbox.jsonl and Bob\'s app reads it there.\n' +
      "R5: the attestation is signed by the verifier's key, which the DP does not hold.",
    async () => {
      const p = await prove(net, { csi: bobCsi });
      expect(
        p.attestation.csi === bobCsi && p.attestation.issuer === 'verifier1',
        'an attestation for Bob by verifier1',
      );
      return [
        `challenge ${p.challengeId}: code ${p.code}, read from ${shown(net.outboxFile)}`,
        `attestation: ${p.attestation.method} by ${p.attestation.issuer} for holder key ${p.attestation.holderKey}`,
      ];
    },
  );

  await step(
    'Bob publishes on msp1 (tag "Default") and on msp2 (tag "business")',
    'R6: Bob signs each mapping with his holder key. R2, R21: the MSP checks that Bob is its user and\n' +
      'countersigns. R3: the DP checks every signature against the registry, then countersigns.\n' +
      "R7: each mapping carries Bob's preference: a tag and a priority.",
    async () => {
      const a = await publish(net, { csi: bobCsi, msp: 'msp1', user: 'bob', tag: 'Default' });
      const b = await publish(net, { csi: bobCsi, msp: 'msp2', user: 'bob', tag: 'business', priority: 5 });
      expect(a.state === 'active' && b.state === 'active', 'both mappings active');
      made.defaultId = a.id;
      made.businessId = b.id;
      return [
        `msp1 ${a.mapping.body.ssi} tag Default: ${a.state}, id ${a.id}`,
        `msp2 ${b.mapping.body.ssi} tag business priority 5: ${b.state}, id ${b.id}`,
        `files: ${shown(a.file)}, ${shown(b.file)}`,
      ];
    },
  );

  await step(
    "Alice's MSP (msp3) looks Bob up: verbose answer",
    "R9: msp3 asks on Alice's behalf, so the DP learns that msp3 asked, not that Alice did.\n" +
      'R14, R15: the answer says "several" and carries every mapping with all it needs to be verified;\n' +
      'msp3 checks each one itself (R3). R7: Default comes first, then by priority.',
    async () => {
      const [r] = await lookupVerbose(net, 'msp3', [bob]);
      expect(r?.status === 'several', `status several, got ${r?.status}`);
      const tags = r!.mappings.map((m) => m.mapping.body.tag).join(',');
      expect(tags === 'Default,business', `Default first, then business; got ${tags}`);
      return verboseText([r!]).split('\n');
    },
  );

  await step(
    "Alice's MSP looks Bob up: compact answer",
    'R15: the compact answer is one bit per MSP, at the positions the registry assigns. It is small,\n' +
      'but it only says where Bob is reachable: it cannot be verified mapping by mapping.',
    async () => {
      const [r] = await lookupCompact(net, 'msp3', [bob]);
      const msps = [...(r?.msps ?? [])].sort();
      expect(msps.join(',') === 'msp1,msp2', `bits for msp1 and msp2, got ${msps.join(',')}`);
      const reg = net.registry();
      const bits = reg
        .allMsps()
        .map((m) => (msps.includes(m.id) ? '1' : '0'))
        .join('');
      return [...compactText([r!]).split('\n'), `bits ${bits} (msp1 = bit 0, msp2 = bit 1, msp3 = bit 2)`];
    },
  );

  await step(
    "Alice's MSP looks Bob up privately: the DP sees bucket ids only",
    'R9, R26: with the private lookup (RFC 9497 OPRF) the DP learns neither whom msp3 asks about nor\n' +
      'the answer: msp3 sends a blinded element, downloads a whole k-anonymous bucket, and opens its\n' +
      'own entry. R22: each evaluation is charged to msp3; the answer is verified like any other.',
    async () => {
      const { results, stats } = await lookupPrivate(net, { msp: 'msp3' }, [bob]);
      const [r] = results;
      expect(r?.status === 'several', `status several, got ${r?.status}`);
      expect(stats.evaluated === 1 && stats.bucketIds.length === 1, 'one evaluation, one bucket');
      return [...verboseText([r!]).split('\n'), privateText(stats)];
    },
  );

  await step(
    'Alice looks Bob up from her own app: through a relay, paying with tokens',
    "R9, R26: the full-privacy path. Alice's app fetches blind-signed Privacy Pass tokens from msp3's\n" +
      "issuer (RFC 9578) and sends every private-lookup request, encapsulated to dp1's gateway key from\n" +
      'the registry (Oblivious HTTP, RFC 9458), through the relay, with a token inside each evaluation.\n' +
      'dp1 learns neither who asks (only "a user of msp3") nor whom nor the answer; the relay learns\n' +
      'her address and that she talks to dp1, nothing inside.',
    async () => {
      const dpFrom = dpLines.length;
      const relayFrom = relayLines.length;
      const { results, stats } = await lookupPrivate(net, { tokens: { msp: 'msp3', user: 'alice' } }, [bob], {
        relay: relayUrl,
      });
      const [r] = results;
      expect(r?.status === 'several', `status several, got ${r?.status}`);
      const parse = (l: string) =>
        JSON.parse(l) as {
          req?: { method: string; url: string; remoteAddress?: string };
          dp?: string;
          bytes?: number;
        };
      const dpReqs = dpLines
        .slice(dpFrom)
        .map(parse)
        .flatMap((l) => (l.req === undefined ? [] : [l.req]));
      const relayed = relayLines.slice(relayFrom).map(parse);
      const relayReqs = relayed.flatMap((l) => (l.req === undefined ? [] : [l.req]));
      const forwarded = relayed.filter((l) => l.dp !== undefined);
      const dpLog = dpLines.slice(dpFrom).join('');
      const relayLog = relayLines.slice(relayFrom).join('');
      const clientAddress = '127.0.0.1';
      expect(
        dpReqs.some((q) => q.url === '/v1/ohttp') && dpReqs.some((q) => q.url === '/v1/private/evaluate'),
        'dp1 served the lookup through its gateway',
      );
      expect(!dpLog.includes('4155550101'), 'no CSI in the DP log');
      expect(egress === undefined || !dpLog.includes(clientAddress), 'no client address in the DP log');
      expect(
        dpReqs.filter((q) => q.url === '/v1/private/evaluate').every((q) => q.remoteAddress === undefined),
        'the token-paid evaluation is logged with no address',
      );
      expect(forwarded.length > 0 && forwarded.every((l) => l.dp === 'dp1'), 'the relay forwarded to dp1');
      for (const inside of ['/v1/private', 'PrivateToken', '4155550101'])
        expect(!relayLog.includes(inside), `nothing inside in the relay log (${inside})`);
      const redeemed =
        /mimi_private_tokens_total\{outcome="redeemed"\} (\d+)/.exec(
          (await node.ctx.metrics.render()).body,
        )?.[1] ?? '0';
      const addrs = (qs: { remoteAddress?: string }[]) =>
        [...new Set(qs.map((q) => q.remoteAddress ?? 'none logged'))].join(', ');
      const inner = dpReqs.filter((q) => q.url !== '/v1/ohttp');
      return [
        ...verboseText([r!]).split('\n'),
        privateText(stats, 'msp3', relayUrl),
        `dp1 saw:    ${dpReqs.length - inner.length} encapsulated request(s) from ${addrs(dpReqs.filter((q) => q.url === '/v1/ohttp'))} (the relay); inside, ${inner.map((q) => `${q.method} ${q.url}`).join(', ')}`,
        `            ${stats.evaluated} evaluation(s), buckets ${stats.bucketIds.join(', ')}; address logged for the evaluation: ${addrs(inner.filter((q) => q.url === '/v1/private/evaluate'))}; ${redeemed} token(s) of msp3's issuer redeemed so far`,
        `relay saw:  ${relayReqs.length} request(s) from ${addrs(relayReqs)} for ${[...new Set(forwarded.map((l) => l.dp))].join(', ')}, ${forwarded.reduce((n, l) => n + (l.bytes ?? 0), 0)} sealed bytes; no path, no token, no CSI`,
        `msp3's issuer saw: alice fetching tokens (blinded: not for which DP, nor which lookup spends them)`,
      ];
    },
  );

  await step(
    'Alice publishes her own identifier mimi:alice@example.net and a sender finds it through DNS',
    'R29: a native identifier is owned under its domain. Alice controls example.net, so she proves\n' +
      'possession with a dns-01 challenge (RFC 8555 §8.4): a TXT record at _mimi-challenge.example.net\n' +
      'bound to her holder key. Her mapping is then published in DNS under _mimi-discovery (a hashed\n' +
      "label, URI records, the signed mapping in TXT), served by the node's own responder; a sender\n" +
      'resolves it and verifies it with the same function as any DP answer, no DNSSEC needed.',
    async () => {
      const csi = 'mimi:alice@example.net';
      const holder = openHolder(net, csi, { create: true });
      const started = await holder.client.startChallenge(csi);
      expect(started.method === 'dns-01' && started.dns !== undefined, 'a dns-01 challenge');
      // Alice's zone, served by the node from its store; her challenge record sits in it too.
      zone.extra.push({
        name: started.dns!.name,
        type: 'TXT',
        ttl: 5,
        data: splitTxt(started.dns!.value).map((s) => Buffer.from(s)),
      });
      await dnsZones.refresh();
      const attestation = await holder.client.checkDnsChallenge(started.challengeId);
      writeJson(holder.attestationFile, attestation);
      const p = await publish(net, { csi, msp: 'msp1', user: 'alice', tag: 'Default' });
      await dnsZones.refresh();
      const r = await lookupNativeDns(csi, {
        registry: net.registry(),
        policy: {},
        now: nowSeconds(),
        resolvers: [`127.0.0.1:${dnsPort}`],
        timeoutMs: 2000,
      });
      expect(r.status === 'one' && r.mappings[0]?.id === p.id, `the published mapping, got ${r.status}`);
      const z = dnsZones.zones()[0]!;
      return [
        `challenge: TXT ${started.dns!.name} "${started.dns!.value}"`,
        `attestation: ${attestation.method} by ${attestation.issuer}; mapping ${p.id} ${p.state}`,
        `zone ${z.name} serial ${z.serial}, served on 127.0.0.1:${dnsPort} (UDP and TCP)`,
        `DNS: ${r.name} TXT -> ${r.status}, ${r.mappings[0]!.mapping.body.ssi}, verified (DNSSEC ${r.dnssec})`,
        `try: dig @127.0.0.1 -p ${dnsPort} ${r.name} URI`,
      ];
    },
  );

  await step(
    `A number nobody published answers "none"`,
    'R14: an answer tells "no mapping" apart from an opt-out and from one or several mappings.',
    async () => {
      const [r] = await lookupVerbose(net, 'msp3', [nobody]);
      expect(r?.status === 'none', `status none, got ${r?.status}`);
      return verboseText([r!]).split('\n');
    },
  );
}
