/**
 * Federation benchmark (issue: federation of discovery providers). Three DP processes on loopback,
 * each with its own SQLite file, as `devnet --dps 3` runs them. In one run it prints:
 *   - local-only lookup latency (p50, p99) vs federated lookup latency over all three DPs
 *     (target: federated p99 under 3x local p99);
 *   - time from a CSIP event at one DP to the removal at the last peer holding the number
 *     (target: p99 under 2 s);
 *   - federated lookups per second.
 * Run: npx tsx bench/federation.ts [--csis 300] [--seconds 8] [--events 40]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readDevnet, readJwkFile, writeDevnet } from '../src/cli/devnet-files.js';
import { freePort } from '../src/cli/ports.js';
import { HolderClient } from '../src/client/holder.js';
import { MspAgent } from '../src/client/msp-agent.js';
import { SignPurpose, signObject } from '../src/crypto/sign.js';
import { RegistrySource } from '../src/registry/source.js';
import { signAttestation } from '../src/verifier/attestation.js';
import { LatencyHistogram } from './lib/histogram.js';

const { values } = parseArgs({
  options: {
    csis: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '8' },
    events: { type: 'string', default: '40' },
    // Switch a feature off in every DP's config to see what it costs, e.g. --off log --off privateLookup.
    off: { type: 'string', multiple: true, default: [] },
  },
});
const csiCount = Number(values.csis);
const seconds = Number(values.seconds);
const eventCount = Number(values.events);
const root = new URL('../', import.meta.url).pathname;

function startDp(configFile: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configFile, '--log-level', 'warn'],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return Promise.resolve(child);
}

async function healthy(endpoint: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${endpoint}/healthz`)).ok) return;
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${endpoint} did not start`);
}

const dir = mkdtempSync(join(tmpdir(), 'mimi-bench-fed-'));
const children: ChildProcess[] = [];
try {
  writeDevnet(dir, { port: await freePort(3), dps: 3 });
  const layout = readDevnet(dir);
  for (const dp of layout.dps) {
    const config = JSON.parse(readFileSync(dp.configFile, 'utf8'));
    for (const feature of values.off ?? []) config[feature] = { ...config[feature], enabled: false };
    writeFileSync(dp.configFile, JSON.stringify(config));
  }
  if ((values.off ?? []).length > 0) console.log(`switched off: ${values.off!.join(', ')}`);
  for (const dp of layout.dps) children.push(await startDp(dp.configFile));
  await Promise.all(layout.dps.map((d) => healthy(d.endpoint)));
  const registry = new RegistrySource({
    location: join(dir, 'registry.json'),
    pinnedKey: layout.registryKey,
  });
  await registry.load();
  const endpoint = (id: string) => layout.dps.find((d) => d.id === id)!.endpoint;
  const agent = (msp: string) => {
    const m = layout.msps.find((x) => x.id === msp)!;
    return new MspAgent({
      id: msp,
      key: readJwkFile(m.keyFile),
      dp: { id: m.dp, baseUrl: endpoint(m.dp) },
      registry: () => registry.current(),
      isOwnUser: () => true,
    });
  };
  const msp1 = agent('msp1'); // at dp1
  const msp2 = agent('msp2'); // at dp2
  const msp3 = agent('msp3'); // at dp3, asks
  const vKey = readJwkFile(join(dir, 'keys', 'verifier1.jwk'));

  // Each CSI: one holder, a mapping at dp1 (msp1) and one at dp2 (msp2).
  const csis: string[] = [];
  const t0 = Date.now();
  for (let i = 0; i < csiCount + eventCount; i++) {
    const csi = `tel:+1415${String(2_000_000 + i).padStart(7, '0')}`;
    const holder = new HolderClient({ dp: { baseUrl: layout.endpoint } });
    const att = signAttestation(
      {
        csi,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: Math.floor(Date.now() / 1000) - 5,
        lifetimeSeconds: 86_400,
      },
      vKey.privateKey,
    );
    await msp1.submit(
      await msp1.confirm(
        holder.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/u${i}`, attestation: att }),
      ),
    );
    await msp2.submit(
      await msp2.confirm(
        holder.signMapping({
          csi,
          msp: 'msp2',
          ssi: `mimi://talk.example/u/u${i}`,
          tag: 'business',
          attestation: att,
        }),
      ),
    );
    csis.push(csi);
  }
  console.log(
    `setup: ${csis.length} CSIs, each mapped at dp1 and dp2, in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  // Raw HTTP with a session token, so the figures are the DPs' and not the SDK's verification.
  const token = async (a: MspAgent) => a.sessionToken();
  async function run(
    name: string,
    url: string,
    tok: string,
    body: (i: number) => unknown,
    concurrency: number,
  ) {
    const hist = new LatencyHistogram();
    const until = Date.now() + seconds * 1000;
    let n = 0;
    let errors = 0;
    const worker = async () => {
      while (Date.now() < until) {
        const started = performance.now();
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
          body: JSON.stringify(body(n++)),
        });
        const text = await res.text();
        if (!res.ok || text.includes('"status":"timeout"') || text.includes('"status":"error"')) errors++;
        hist.record((performance.now() - started) * 1000);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const rate = hist.count / seconds;
    console.log(
      `${name}: ${rate.toFixed(0)} lookups/s, p50 ${(hist.percentile(50) / 1000).toFixed(2)} ms, p99 ${(hist.percentile(99) / 1000).toFixed(2)} ms, errors ${errors} (concurrency ${concurrency})`,
    );
    return { rate, p50: hist.percentile(50), p99: hist.percentile(99) };
  }
  const pick = (i: number) => csis[i % csiCount]!;
  const t1 = await token(msp1);
  const t3 = await token(msp3);
  const lookupUrl = (dp: string) => `${endpoint(dp)}/v1/lookup`;
  // Latency one request at a time (what a lookup costs), at 4 in flight (three DP processes and
  // this client then share 2 cores), then throughput at 16 in flight.
  const local1 = await run(
    'local lookup, one at a time',
    lookupUrl('dp1'),
    t1,
    (i) => ({ v: 1, csis: [pick(i)], federation: false }),
    1,
  );
  const fed1 = await run(
    'federated lookup, one at a time',
    lookupUrl('dp3'),
    t3,
    (i) => ({ v: 1, csis: [pick(i)], federation: true, dpList: 'all' }),
    1,
  );
  const local = await run(
    'local lookup (dp1, federation off)',
    lookupUrl('dp1'),
    t1,
    (i) => ({ v: 1, csis: [pick(i)], federation: false }),
    4,
  );
  const fed = await run(
    'federated lookup (dp3 asks dp1 and dp2)',
    lookupUrl('dp3'),
    t3,
    (i) => ({ v: 1, csis: [pick(i)], federation: true, dpList: 'all' }),
    4,
  );
  const fedLoad = await run(
    'federated lookup throughput',
    lookupUrl('dp3'),
    t3,
    (i) => ({ v: 1, csis: [pick(i)], federation: true, dpList: 'all' }),
    16,
  );

  // CSIP event at dp1 -> removal at dp2 (the other DP holding the number), seen by polling dp2.
  const csipKey = readJwkFile(layout.csip.keyFile).privateKey;
  const t2 = await token(msp2);
  const delays = new LatencyHistogram();
  for (let i = 0; i < eventCount; i++) {
    const csi = csis[csiCount + i]!;
    const unsigned = {
      v: 1 as const,
      csi,
      kind: 'disconnected' as const,
      at: Math.floor(Date.now() / 1000),
      issuer: 'csip1',
    };
    const started = performance.now();
    const res = await fetch(`${endpoint('dp1')}/v1/csip/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...unsigned, sig: signObject(SignPurpose.CsipEvent, unsigned, csipKey) }),
    });
    if (res.status !== 201) throw new Error(`CSIP event refused: ${await res.text()}`);
    for (;;) {
      const r = await fetch(lookupUrl('dp2'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t2}` },
        body: JSON.stringify({ v: 1, csis: [csi], federation: false }),
      });
      if ((await r.text()).includes('"status":"none"')) break;
      if (performance.now() - started > 10_000) throw new Error('removal did not reach dp2 within 10 s');
    }
    delays.record((performance.now() - started) * 1000);
  }
  console.log(
    `CSIP event -> removal at the last peer: p50 ${(delays.percentile(50) / 1000).toFixed(1)} ms, p99 ${(delays.percentile(99) / 1000).toFixed(1)} ms, max ${(delays.max / 1000).toFixed(1)} ms over ${eventCount} events`,
  );

  console.log('\nsummary');
  console.log(
    `  one at a time:  federated p99 / local p99: ${(fed1.p99 / local1.p99).toFixed(2)}x   (target < 3x); p50 ${(fed1.p50 / local1.p50).toFixed(2)}x`,
  );
  console.log(
    `  4 in flight:    federated p99 / local p99: ${(fed.p99 / local.p99).toFixed(2)}x   (target < 3x); p50 ${(fed.p50 / local.p50).toFixed(2)}x`,
  );
  console.log(`  federated lookups per second at 16 in flight: ${fedLoad.rate.toFixed(0)}`);
  console.log(
    `  CSIP event to last removal p99: ${(delays.percentile(99) / 1000).toFixed(1)} ms   (target < 2000 ms)`,
  );
  registry.close();
} finally {
  // Let each DP shut down cleanly before its folder goes.
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          const timer = setTimeout(resolve, 10_000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}
