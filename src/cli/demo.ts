import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { lookupNativeDns } from '../client/dns-lookup.js';
import { HolderClient } from '../client/holder.js';
import { MspAgent } from '../client/msp-agent.js';
import { generateKeyPair } from '../crypto/keys.js';
import { digest, SignPurpose, signObject } from '../crypto/sign.js';
import type { ZoneRecord } from '../dns/records.js';
import { DnsResponder } from '../dns/responder.js';
import { ZoneSet } from '../dns/zone-set.js';
import { splitTxt } from '../protocol/dns-names.js';
import { nowSeconds } from '../protocol/encoding.js';
import { type ErrorCode, MimiError } from '../protocol/errors.js';
import type { Mapping, MappingBody } from '../protocol/records.js';
import { countersign, verifyHolderAndMsp } from '../registry/verify-mapping.js';
import { createRelay, loadRelayConfig } from '../server/relay.js';
import { startTokenIssuer, type TokenIssuer } from '../server/token-issuer.js';
import { nodeTxtResolver } from '../verifier/dns01.js';
import { readJson, readKeyFile, writeJson } from './args.js';
import { cliName, ensureDevnet } from './devnet.js';
import { codeFromOutbox, fileNameOf, openDevnet } from './devnet-access.js';
import { invalidate, openHolder, optOut, prove, publish, rotate, shown } from './holder.js';
import { CliError, CliErrorCode, emit, type Io, ioOf } from './io.js';
import {
  compactText,
  lookupCompact,
  lookupPrivate,
  lookupVerbose,
  privateText,
  verboseText,
} from './lookup.js';
import { startNode } from './node.js';
import { freePort } from './ports.js';
import { verifyFile } from './verify.js';

/**
 * A narrated walk through discovery for a newcomer, on a fresh devnet started in this process.
 * Every step says what happens and why (with its requirement id), shows the evidence, and checks
 * that the system behaved as the requirement says; the first step that does not ends the demo
 * with exit code 1.
 */
const bob = '+1 415 555 0101';
const carol = '+1 415 555 0102';
const eve = '+1 415 555 0103';
const nobody = '+1 415 555 0199';

export interface DemoStep {
  n: number;
  title: string;
  ok: boolean;
  evidence: string[];
  error?: string;
}

/** A step that did not behave as the requirements say: the demo stops there. */
class StepFailed extends CliError {
  constructor(what: string) {
    super(CliErrorCode.DemoStepFailed, what);
  }
}

function expect(cond: boolean, what: string): void {
  if (!cond) throw new StepFailed(what);
}

/** Runs `fn` and returns the error it must fail with; anything else fails the step. */
async function rejected(code: ErrorCode, fn: () => unknown): Promise<MimiError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof MimiError && err.code === code) return err;
    const got = err instanceof MimiError ? `[${err.code}] ${err.message}` : String(err);
    throw new StepFailed(`expected a rejection with ${code}, got ${got}`);
  }
  throw new StepFailed(`expected a rejection with ${code}, but it was accepted`);
}

function demoDir(input: string | undefined): string {
  if (input === undefined) return mkdtempSync(join(tmpdir(), 'mimi-demo-'));
  const dir = resolve(input);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new CliError(
      CliErrorCode.InvalidArgument,
      `--dir ${input} is not empty; the demo needs a fresh folder`,
      'give a new folder, or leave --dir out to use a temporary one',
    );
  }
  return dir;
}

export async function runDemo(opts: {
  dir?: string;
  io: Io;
}): Promise<{ ok: boolean; dir: string; steps: DemoStep[] }> {
  const { io } = opts;
  const dir = demoDir(opts.dir);
  // dp1, its Oblivious HTTP relay (the port after it) and the MSPs' issuers (20 ports above dp1).
  const port = await freePort(23);
  ensureDevnet(dir, { port });
  // R29: the node's own DNS responder for example.net, the verifier's dns-01 lookups asking it.
  const dnsPort = await freePort();
  // dp1's request log, kept in memory: the full-privacy step shows what the DP saw.
  const dpLines: string[] = [];
  const node = await startNode(join(dir, 'dp1.config.json'), {
    logLevel: 'info',
    logStream: new Writable({
      write(chunk, _enc, done) {
        dpLines.push(String(chunk));
        done();
      },
    }),
    overrides: { dns01: nodeTxtResolver({ servers: [`127.0.0.1:${dnsPort}`], timeoutMs: 2000 }) },
  });
  const net = openDevnet(dir);
  // The devnet's relay, connecting to gateways from another loopback address where the system has
  // one (Linux), so the DP's view and the client's address differ; and msp3's Privacy Pass issuer.
  const relayLines: string[] = [];
  const relayConfig = loadRelayConfig(net.layout.relay!.configFile);
  const egress = process.platform === 'linux' ? '127.0.0.3' : undefined;
  const relay = await createRelay(
    {
      ...relayConfig,
      config: { ...relayConfig.config, ...(egress === undefined ? {} : { egressAddress: egress }) },
    },
    { logger: { level: 'info', stream: { write: (l: string) => relayLines.push(l) } } },
  );
  const relayUrl = await relay.listen();
  const issuers: TokenIssuer[] = [];
  for (const m of net.layout.msps) {
    if (m.issuer !== undefined) issuers.push(await startTokenIssuer(m.issuer.configFile, { logger: false }));
  }
  const zone = {
    name: 'example.net',
    nameServers: [{ name: 'ns1.example.net', addresses: ['127.0.0.1'] }],
    ttl: 5,
    extra: [] as ZoneRecord[],
  };
  const dnsZones = new ZoneSet({ store: node.ctx.store, zones: [zone], now: nowSeconds, refreshMs: 500 });
  await dnsZones.start();
  const dns = new DnsResponder({ zones: dnsZones, host: '127.0.0.1', port: dnsPort });
  await dns.start();
  const steps: DemoStep[] = [];
  const fedNodes: Awaited<ReturnType<typeof startNode>>[] = [];
  const total = 19;

  io.say(`A fresh devnet is running in this process at ${node.url}, with its files in ${shown(dir)}:`);
  io.say('one DP (dp1) that also runs a verifier, three MSPs (msp1 chat.example, msp2 talk.example,');
  io.say(
    'msp3 alice-msp.example) and a registry signed by a key everyone pins. Bob wants to be found by his',
  );
  io.say('phone number; Alice, on msp3, wants to reach him without trusting whoever answers.');

  const step = async (title: string, why: string, fn: () => Promise<string[]>): Promise<void> => {
    const n = steps.length + 1;
    io.say();
    io.say(`[${n}/${total}] ${title}`);
    for (const line of why.split('\n')) io.say(`  ${line}`);
    try {
      const evidence = await fn();
      for (const line of evidence) io.say(`    ${line}`);
      io.say('  -> as expected');
      steps.push({ n, title, ok: true, evidence });
    } catch (err) {
      const message =
        err instanceof MimiError && !(err instanceof StepFailed)
          ? `[${err.code}] ${err.message}`
          : (err as Error).message;
      io.say(`  -> STEP FAILED: ${message}`);
      steps.push({ n, title, ok: false, evidence: [], error: message });
      throw new StepFailed(`step ${n} (${title}): ${message}`);
    }
  };

  let ok = true;
  try {
    const bobCsi = 'tel:+14155550101';
    let defaultId = '';
    let businessId = '';

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
        defaultId = a.id;
        businessId = b.id;
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
        const { results, stats } = await lookupPrivate(
          net,
          { tokens: { msp: 'msp3', user: 'alice' } },
          [bob],
          {
            relay: relayUrl,
          },
        );
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
        zone.extra.push({ name: started.dns!.name, type: 'TXT', ttl: 5, data: splitTxt(started.dns!.value) });
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

    await step(
      `Carol (${carol}) opts out`,
      'R25: discovery is opt-in, and a holder may say no explicitly. R14: Carol proves possession and\n' +
        'signs an opt-out with no MSP in it; lookups then answer "opt-out" rather than "none".',
      async () => {
        const o = await optOut(net, { csi: carol });
        expect(o.state === 'active', 'the opt-out accepted');
        const [r] = await lookupVerbose(net, 'msp3', [carol]);
        expect(r?.status === 'opt-out', `status opt-out, got ${r?.status}`);
        return [`opt-out ${o.id} accepted`, ...verboseText([r!]).split('\n')];
      },
    );

    await step(
      'Bob invalidates his business mapping',
      'R19, R25: a holder withdraws a mapping with a request signed by his holder key; neither the MSP\n' +
        'nor the DP can keep it alive. The next lookup shows only the Default mapping.',
      async () => {
        const ids = await invalidate(net, { csi: bobCsi, id: businessId });
        expect(ids.length === 1 && ids[0] === businessId, 'the business mapping invalidated');
        const [r] = await lookupVerbose(net, 'msp3', [bob]);
        expect(
          r?.status === 'one' && r.mappings[0]?.id === defaultId,
          `only the Default mapping left, got ${r?.status}`,
        );
        return [`invalidated ${businessId}`, ...verboseText([r!]).split('\n')];
      },
    );

    await step(
      'Bob rotates his holder key',
      'R19: Bob moves to a new key with a request signed by both keys. The new key keeps his place;\n' +
        'the old one can do nothing more, so a stolen old key is useless.',
      async () => {
        const r = await rotate(net, { csi: bobCsi });
        const old = new HolderClient(
          { baseUrl: net.endpoint },
          { key: readKeyFile(r.retiredFile, 'old key') },
        );
        const refused = await rejected('holder-key-retired', () => old.invalidate(bobCsi, null));
        return [
          `old key ${r.oldKey}`,
          `new key ${r.newKey} (in ${shown(r.keyFile)})`,
          `an invalidation signed with the old key: refused [${refused.code}]`,
        ];
      },
    );

    await step(
      "A second holder proves Bob's number and publishes: contested, Bob keeps precedence",
      'Someone else (Dave: a new owner of the number, or someone who intercepted a code) proves\n' +
        "possession of Bob's number and publishes on msp2. R17: the older holder keeps precedence, so\n" +
        "Dave's mapping is held as contested and not served; Bob has a window to prove possession again.",
      async () => {
        const keyFile = join(net.dir, 'holders', `dave-${fileNameOf(bobCsi)}.jwk`);
        const d = await publish(net, { csi: bobCsi, msp: 'msp2', user: 'dave', tag: 'Default', keyFile });
        expect(d.state === 'contested', `Dave's mapping contested, got ${d.state}`);
        const [r] = await lookupVerbose(net, 'msp3', [bob]);
        expect(r?.status === 'one' && r.mappings[0]?.id === defaultId, "only Bob's mapping served");
        return [
          `Dave proved possession (code ${d.proved?.code} from the outbox) and published: state ${d.state}`,
          `contest window: ${node.ctx.dp.contestWindow / 86_400} days`,
          ...verboseText([r!]).split('\n'),
        ];
      },
    );

    await step(
      'A hand-edited mapping fails verification',
      "R3, R6: anyone can verify a mapping offline, like a certificate chain. We copy Bob's Default\n" +
        'mapping and change its tag to "business" by hand: the holder signature no longer matches.',
      async () => {
        const original = net.mappingFile(defaultId);
        const edited = readJson(original, 'mapping') as Mapping;
        edited.body.tag = 'business';
        const tampered = join(net.dir, 'tampered-mapping.json');
        writeFileSync(tampered, `${JSON.stringify(edited, null, 2)}\n`);
        const source = { registryFile: join(net.dir, 'registry.json'), registryKey: net.registryKey };
        const good = verifyFile(original, source);
        const bad = verifyFile(tampered, source);
        expect(good.exitCode === undefined, `the original verifies: ${good.text}`);
        expect(
          bad.exitCode === 1 && (bad.doc as { code?: string }).code === 'holder-signature-invalid',
          `the edited copy fails the holder-signature check, got: ${bad.text}`,
        );
        return [
          `$ ${cliName()} verify --devnet ${shown(net.dir)} ${shown(original)}`,
          good.text.split('\n')[0]!,
          `$ ${cliName()} verify --devnet ${shown(net.dir)} ${shown(tampered)}`,
          bad.text,
        ];
      },
    );

    await step(
      'Rejected: a forged holder signature',
      "R4, R6: Mallory copies Bob's attestation (it is public, in every verbose answer) into a mapping\n" +
        "that sends Bob's number to her msp1 account, and signs it with her own key. msp1 will not\n" +
        'countersign it (its countersignature covers the holder signature, so it checks it first); and\n' +
        "countersigned anyway, the DP refuses it: only Bob's key can sign for Bob.",
      async () => {
        const bobMapping = readJson(net.mappingFile(defaultId), 'mapping') as Mapping;
        const att = bobMapping.attestation;
        const now = Math.floor(Date.now() / 1000);
        const body: MappingBody = {
          v: 2,
          csi: bobCsi,
          msp: 'msp1',
          ssi: 'mimi://chat.example/u/mallory',
          tag: 'mallory',
          priority: 0,
          holderKey: att.holderKey,
          attestation: digest(att),
          createdAt: now,
          expiresAt: now + 86_400,
          supersedes: null,
        };
        const mallory = generateKeyPair();
        const forged = {
          body,
          attestation: att,
          holderSig: signObject(SignPurpose.MappingHolder, body, mallory.privateKey),
        };
        const msp1 = net.msp('msp1');
        const byMsp = await rejected('holder-signature-invalid', () => msp1.confirm(forged));
        const mspKey = readKeyFile(net.layout.msps.find((m) => m.id === 'msp1')!.keyFile, 'msp1 key');
        const err = await rejected('holder-signature-invalid', () =>
          msp1.submit({ ...forged, mspSig: countersign(forged, mspKey.privateKey) }),
        );
        return [`msp1: [${byMsp.code}] ${byMsp.message}`, `DP answer: [${err.code}] ${err.message}`];
      },
    );

    await step(
      'Rejected: an MSP that is not in the registry',
      'R21, R23: only registered MSPs may sign mappings. A rogue MSP cannot even open a session with\n' +
        'the DP, and a mapping it signed fails the check that every DP and client runs.',
      async () => {
        const rogueKey = generateKeyPair();
        const rogue = new MspAgent({
          id: 'rogue-msp',
          key: rogueKey,
          dp: { baseUrl: net.endpoint, id: 'dp1' },
          registry: () => net.registry(),
          isOwnUser: () => true,
        });
        const session = await rejected('unauthenticated', () => rogue.lookup([bob]));
        const holder = openHolder(net, bobCsi, { create: false });
        const p = await prove(net, { csi: bobCsi });
        const signed = holder.client.signMapping({
          csi: bobCsi,
          msp: 'rogue-msp',
          ssi: 'mimi://rogue.example/u/bob',
          attestation: p.attestation,
        });
        const mspSig = countersign(signed, rogueKey.privateKey);
        const check = await rejected('msp-not-registered', () =>
          verifyHolderAndMsp(
            { ...signed, mspSig },
            { registry: net.registry(), policy: {}, now: Math.floor(Date.now() / 1000) },
          ),
        );
        return [
          `session with the DP: [${session.code}] ${session.message}`,
          `its mapping: [${check.code}] ${check.message}`,
        ];
      },
    );

    await step(
      'Rejected: too many wrong codes',
      `R1, R22: Eve tries to guess the code sent to ${eve}. Codes are tried a bounded number of times;\n` +
        'then the challenge is spent, and even the right code no longer works.',
      async () => {
        const evil = openHolder(net, 'tel:+14155550103', {
          keyFile: join(net.dir, 'holders', `eve-${fileNameOf('tel:+14155550103')}.jwk`),
          create: true,
        });
        const started = await evil.client.startChallenge(eve);
        const real = codeFromOutbox(net.outboxFile, 'tel:+14155550103');
        expect(real !== undefined, 'a code in the outbox');
        const wrong = String((Number(real) + 1) % 1_000_000).padStart(6, '0');
        const max = node.ctx.verifier?.maxAttempts ?? 5;
        const lines: string[] = [];
        for (let i = 1; i < max; i++) {
          const e = await rejected('code-invalid', () =>
            evil.client.answerChallenge(started.challengeId, wrong),
          );
          lines.push(`guess ${i}: [${e.code}] ${e.message}, ${String(e.extra?.attemptsLeft)} left`);
        }
        const last = await rejected('too-many-attempts', () =>
          evil.client.answerChallenge(started.challengeId, wrong),
        );
        lines.push(`guess ${max}: [${last.code}] ${last.message}`);
        const spent = await rejected('too-many-attempts', () =>
          evil.client.answerChallenge(started.challengeId, real!),
        );
        lines.push(`the right code after that: [${spent.code}] ${spent.message}`);
        return lines;
      },
    );

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
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    ok = false;
  } finally {
    await dns.close();
    await dnsZones.close();
    await relay.close();
    for (const i of issuers) await i.close();
    await node.close();
    for (const n of fedNodes) await n.close();
  }

  io.say();
  if (ok) io.say(`All ${steps.length} steps behaved as the requirements say.`);
  io.say(`The files are left in ${shown(dir)}:`);
  io.say('  registry.json     the signed registry (R30); devnet.json names the key to pin');
  io.say('  keys/             registry, DP, verifier, CSIP and MSP keys (JWK, mode 0600)');
  io.say("  holders/          Bob's, Carol's, Dave's and Eve's holder keys and attestations");
  io.say('  mappings/         every accepted mapping, one JSON file each: try verify on them');
  io.say('  tampered-mapping.json   the hand-edited copy that fails verification');
  io.say("  dp1.db            the DP's SQLite database");
  io.say('  outbox.jsonl      every one-time code the verifier "sent"');
  io.say('  federation/       the three-DP devnet: dp1.db, dp2.db, dp3.db and their configs');
  io.say(`Explore it: ${cliName()} devnet --dir ${shown(dir)}   (resumes this devnet on port ${port})`);
  return { ok, dir, steps };
}

export async function demoAction(opts: { dir?: string; json?: boolean }): Promise<void> {
  const io = ioOf(opts);
  const result = await runDemo({ dir: opts.dir, io });
  if (io.json) {
    emit(true, { doc: result, text: '', exitCode: result.ok ? 0 : 1 });
    return;
  }
  if (!result.ok) {
    const failed = result.steps.find((s) => !s.ok);
    throw new CliError(
      CliErrorCode.DemoStepFailed,
      `step ${failed?.n} (${failed?.title}) did not behave as expected: ${failed?.error}`,
    );
  }
}
