import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { ZoneRecord } from '../dns/records.js';
import { DnsResponder } from '../dns/responder.js';
import { ZoneSet } from '../dns/zone-set.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import { configDefaults } from '../server/config.js';
import { createRelay, loadRelayConfig } from '../server/relay.js';
import { startTokenIssuer, type TokenIssuer } from '../server/token-issuer.js';
import { nodeTxtResolver } from '../verifier/dns01.js';
import { federationSteps } from './demo/federation-steps.js';
import { type Demo, type DemoStep, StepFailed } from './demo/kit.js';
import { lifecycleSteps } from './demo/lifecycle-steps.js';
import { lookupSteps } from './demo/lookup-steps.js';
import { cliName, ensureDevnet } from './devnet.js';
import { openDevnet } from './devnet-access.js';
import { shown } from './devnet-holder.js';
import { CliError, CliErrorCode, emit, type Io, ioOf } from './io.js';
import { startNode } from './node.js';
import { freePort } from './ports.js';

/**
 * A narrated walk through discovery for a newcomer, on a fresh devnet started in this process.
 * Every step says what happens and why (with its requirement id), shows the evidence, and checks
 * that the system behaved as the requirement says; the first step that does not ends the demo
 * with exit code 1.
 */

export type { DemoStep } from './demo/kit.js';

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
    overrides: {
      dns01: nodeTxtResolver({
        servers: [`127.0.0.1:${dnsPort}`],
        timeoutMs: configDefaults.verifier.dns01TimeoutMs,
      }),
    },
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
    negativeTtl: configDefaults.dns.zone.negativeTtl,
    extra: [] as ZoneRecord[],
  };
  const dnsZones = new ZoneSet({ store: node.ctx.store, zones: [zone], now: nowSeconds, refreshMs: 500 });
  await dnsZones.start();
  const dns = new DnsResponder({
    zones: dnsZones,
    host: '127.0.0.1',
    port: dnsPort,
    maxUdpPayload: node.ctx.config.resolved.dns.maxUdpPayload,
  });
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
  const demo: Demo = {
    dir,
    net,
    node,
    dpLines,
    relayLines,
    egress,
    relayUrl,
    dnsPort,
    zone,
    dnsZones,
    fedNodes,
    step,
    made: { defaultId: '', businessId: '' },
  };
  try {
    await lookupSteps(demo);
    await lifecycleSteps(demo);
    await federationSteps(demo);
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
