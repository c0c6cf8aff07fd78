/**
 * Single-node throughput: one devnet DP on one core, driven over keep-alive HTTP from another.
 * Run with `npx tsx bench/single-node.ts` (about 2 minutes). Options:
 *   --mappings N     mappings preloaded before the lookups (default 100000)
 *   --submissions N  signed submissions prepared for the acceptance run (default 40000)
 *   --seconds S      measured window per figure (default 8; each also gets 2 s of warm-up)
 *   --connections C  concurrent keep-alive connections (default 16)
 *   --profile        run each server phase under `node --cpu-prof` and summarise where time goes
 *   --keep           keep the temp folder (database, config, profiles)
 * Prints `name: value unit` lines, then a summary table. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readDevnet, writeDevnet } from '../src/cli/devnet-files.js';
import { freePort } from '../src/cli/ports.js';
import { call } from '../src/client/http.js';
import { MspAgent } from '../src/client/msp-agent.js';
import { SignPurpose, signObject } from '../src/crypto/sign.js';
import { SessionAnswer } from '../src/protocol/answers.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import { Registry } from '../src/registry/document.js';
import { NodeConfig } from '../src/server/config.js';
import { benchCsi, devnetSigners, type Signers } from './lib/fixtures.js';
import { type LoadResult, rawPost, runLoad } from './lib/loadgen.js';
import { preloadMappings, prepareSubmissions } from './lib/prepare.js';
import { summarise } from './lib/profile-summary.js';
import { canPin, pinSelf, type ServerProcess, startServer } from './lib/server.js';

const { values: args } = parseArgs({
  options: {
    mappings: { type: 'string', default: '100000' },
    submissions: { type: 'string', default: '40000' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const mappings = Number(args.mappings);
const submissionCount = Number(args.submissions);
const durationMs = Number(args.seconds) * 1000;
const warmupMs = 2000;
const connections = Number(args.connections);
const batchSize = 100;
// The per-MSP lookup budget (R22) too: the bench measures the node, not its refusals.
const raisedLimits = {
  callerPointsPerMinute: 2_000_000_000,
  anonymousPerMinute: 1_000_000,
  mspLookupPerMinute: 2_000_000_000,
  mspLookupPerDay: 2_000_000_000,
};

interface Row {
  name: string;
  value: number;
  unit: string;
  /** Requests or CSIs per second, to be compared with the baseline's requests per second. */
  ratio?: boolean;
  /** The rate divided by the server's CPU use in the window: per second of one busy core. */
  perCore?: number;
  target?: string;
}
const rows: Row[] = [];

function fmt(v: number): string {
  if (v >= 100) return String(Math.round(v));
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function report(name: string, value: number, unit: string, extra: Partial<Row> = {}): void {
  console.log(`${name}: ${fmt(value)} ${unit}`);
  rows.push({ name, value, unit, ...extra });
}

function perCoreOf(r: LoadResult, rate: number): number | undefined {
  return r.serverCpu === undefined || r.serverCpu <= 0 ? undefined : rate / r.serverCpu;
}

function reportLoad(name: string, r: LoadResult, unit = 'req/s', target?: string): void {
  const perCore = perCoreOf(r, r.perSecond);
  report(name, r.perSecond, unit, { ratio: true, target, perCore });
  if (perCore !== undefined) console.log(`${name}_per_server_core: ${fmt(perCore)} ${unit}`);
  report(`${name}_p50`, r.latency.percentile(50) / 1000, 'ms');
  report(`${name}_p99`, r.latency.percentile(99) / 1000, 'ms');
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}x${n}`)
    .join(' ');
  console.log(
    `  (${r.requests} requests in ${r.seconds.toFixed(2)} s, ${connections} connections, errors ${r.errors}, statuses ${statuses}, ` +
      `${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s in, max ${(r.latency.max / 1000).toFixed(1)} ms, ` +
      `cpu: server ${r.serverCpu === undefined ? '?' : `${Math.round(100 * r.serverCpu)}%`} load generator ${Math.round(100 * r.generatorCpu)}%` +
      `${r.otherCpu === undefined ? '' : ` other processes ${Math.round(100 * r.otherCpu)}%`}` +
      `${r.exhausted ? ', ran out of prepared requests' : ''})`,
  );
  if (r.errors > 0) throw new Error(`${name}: ${r.errors} requests failed (${statuses})`);
}

function dbSize(path: string): number {
  return ['', '-wal', '-shm']
    .map((s) => `${path}${s}`)
    .filter((p) => existsSync(p))
    .reduce((sum, p) => sum + statSync(p).size, 0);
}

/** One session per MSP (POST /v1/session, signed once), reused as a bearer token for the run. */
async function openSessions(baseUrl: string, signers: Signers): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const msp of signers.msps) {
    const unsigned = {
      v: 1 as const,
      participant: msp.id,
      role: 'msp' as const,
      audience: signers.dpId,
      issuedAt: nowSeconds(),
      nonce: randomBytes(16).toString('base64url'),
    };
    const answer = await call({ baseUrl }, 'POST', '/v1/session', SessionAnswer, {
      ...unsigned,
      sig: signObject(SignPurpose.Session, unsigned, msp.key.privateKey),
    });
    tokens.set(msp.id, answer.token);
  }
  return tokens;
}

/** Cycles through a pool of prebuilt requests. */
function cycle(pool: Buffer[]): () => Buffer {
  let i = 0;
  return () => pool[i++ % pool.length]!;
}

function randomCsi(): string {
  return benchCsi(Math.floor(Math.random() * mappings));
}

async function main(): Promise<void> {
  const started = performance.now();
  const pin = canPin();
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(
    `machine: ${cpus().length} cores, ${cpu}, node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    pin
      ? 'pinning: server child on core 0 (taskset -c 0), load generator on core 1'
      : 'pinning: unavailable (no taskset or one core); figures are not comparable',
  );

  const dir = mkdtempSync(join(tmpdir(), 'mimi-bench-'));
  const profileDir = join(dir, 'profiles');
  const port = await freePort();
  writeDevnet(dir, { port });
  const layout = readDevnet(dir);
  const config = JSON.parse(readFileSync(layout.configFile, 'utf8')) as NodeConfig;
  config.limits = { ...config.limits, ...raisedLimits };
  writeFileSync(layout.configFile, `${JSON.stringify(config, null, 2)}\n`);
  if (config.store.backend !== 'sqlite') throw new Error('the single-node bench preloads a SQLite store');
  const dbPath = join(dir, config.store.path);
  console.log(
    `config: bench copy of the devnet config in ${dir}; limits raised so the rate limiter never caps the run: ` +
      `callerPointsPerMinute ${raisedLimits.callerPointsPerMinute}, anonymousPerMinute ${raisedLimits.anonymousPerMinute} ` +
      `(maxBatch stays ${config.limits.maxBatch ?? 100})`,
  );
  const signers = devnetSigners(dir);

  try {
    // 5. Preload: real signed mappings (verifier, holder, MSP, DP signatures), signed by two
    // processes, written with their log leaves (bench/lib/mapping-db.ts) in 2,000-row transactions.
    const now = nowSeconds();
    let t = performance.now();
    const { signSeconds, insertSeconds } = await preloadMappings({
      dir,
      dbPath,
      count: mappings,
      now,
      workers: 2,
    });
    const preloadSeconds = (performance.now() - t) / 1000;
    report('preload_mappings', mappings, 'mappings');
    report('preload_time', preloadSeconds, 's');
    report('preload_sign_time', signSeconds, 's (two processes)');
    report('preload_insert_time', insertSeconds, 's (one process, 2,000-row transactions)');
    report('preload_rate', mappings / preloadSeconds, 'mappings/s');
    report('db_size_after_preload', dbSize(dbPath) / 2 ** 20, 'MiB');
    report('db_bytes_per_mapping', dbSize(dbPath) / mappings, 'B');

    t = performance.now();
    const subs = await prepareSubmissions({ dir, first: mappings, count: submissionCount, now, workers: 2 });
    console.log(
      `prepared ${subs.length} signed submissions (distinct holders and CSIs) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    if (pin) pinSelf(1);

    const serve = async (argv: string[], phase: string): Promise<ServerProcess> =>
      startServer({
        args: argv,
        pin,
        core: 0,
        nodeFlags: args.profile
          ? // One folder per phase: tsx runs its loader in a worker thread, which writes a profile too.
            ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, phase)}`]
          : [],
      });
    const stop = async (server: ServerProcess, phase: string) => {
      await server.stop();
      if (!args.profile) return;
      // The main thread's profile is the largest; the loader thread's is small.
      const folder = join(profileDir, phase);
      const file = readdirSync(folder)
        .map((f) => join(folder, f))
        .sort((a, b) => statSync(b).size - statSync(a).size)[0];
      if (file !== undefined) console.log(`profile ${phase}: ${file}\n${summarise(file, 14)}`);
    };

    // 1. Baseline: bare fastify echoing a small JSON body; run again at the end to show drift.
    const baseline = async (name: string) => {
      const server = await serve(['baseline'], name);
      const body = JSON.stringify({ v: 1, csis: [benchCsi(1)], format: 'verbose' });
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs,
        durationMs,
        next: cycle([rawPost('/echo', body)]),
      });
      await stop(server, name);
      reportLoad(name, r);
    };
    await baseline('baseline_echo');

    // 2 and 3. Lookups against the devnet node holding the preloaded mappings.
    const devnet = async (phase: string, configFile = layout.configFile) => {
      const server = await serve(['devnet', configFile], phase);
      const baseUrl = `http://127.0.0.1:${server.port}`;
      return { server, baseUrl, tokens: await openSessions(baseUrl, signers) };
    };
    // The first start after the preload builds the private (OPRF) index of every served CSI before
    // it listens; time it apart, then time an ordinary start.
    for (const name of ['devnet_first_start', 'devnet_start'] as const) {
      const t0 = performance.now();
      const server = await serve(['devnet', layout.configFile], name);
      report(name, (performance.now() - t0) / 1000, 's');
      await stop(server, name);
    }
    {
      const { server, baseUrl, tokens } = await devnet('lookup-single');
      // Not timed: the SDK verifies served mappings end to end (attestation, holder, MSP, DP).
      const registry = Registry.open(
        JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
        layout.registryKey,
        { now: nowSeconds() },
      );
      const agent = new MspAgent({
        id: 'msp1',
        key: signers.msps[0]!.key,
        dp: { baseUrl, id: signers.dpId },
        registry: () => registry,
        isOwnUser: () => true,
      });
      const sample = [benchCsi(0), benchCsi(mappings - 1), randomCsi()];
      const verified = await agent.lookup(sample);
      if (verified.some((v) => v.status !== 'one')) throw new Error('preloaded mappings are not served');
      console.log(`check: ${sample.length} preloaded mappings served and verified by the SDK`);

      const auth = { authorization: `Bearer ${tokens.get('msp1')}` };
      const pool = Array.from({ length: 20_000 }, () =>
        rawPost('/v1/lookup', JSON.stringify({ v: 1, csis: [randomCsi()], format: 'verbose' }), auth),
      );
      let bad = 0;
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs,
        durationMs,
        next: cycle(pool),
        inspectEvery: 997,
        inspect: (status, body) => {
          const a = JSON.parse(body.toString()) as { results: { status: string; mappings: unknown[] }[] };
          if (status !== 200 || a.results[0]?.status !== 'one' || a.results[0].mappings.length !== 1) bad++;
        },
      });
      await stop(server, 'lookup-single');
      reportLoad('lookup_single_verbose', r, 'req/s', '>= 35% of baseline');
      if (bad > 0) throw new Error(`${bad} sampled lookup answers were wrong`);
    }

    for (const format of ['verbose', 'compact'] as const) {
      const phase = `lookup-batch-${format}`;
      const { server, tokens } = await devnet(phase);
      const auth = { authorization: `Bearer ${tokens.get('msp1')}` };
      const pool = Array.from({ length: 2_000 }, () =>
        rawPost(
          '/v1/lookup',
          JSON.stringify({ v: 1, csis: Array.from({ length: batchSize }, randomCsi), format }),
          auth,
        ),
      );
      let bad = 0;
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs,
        durationMs,
        next: cycle(pool),
        inspectEvery: 97,
        inspect: (status, body) => {
          const a = JSON.parse(body.toString()) as { results: { status: string }[] };
          if (status !== 200 || a.results.length !== batchSize || a.results.some((x) => x.status !== 'one'))
            bad++;
        },
      });
      await stop(server, phase);
      const name = `lookup_batch${batchSize}_${format}`;
      const csiPerCore = perCoreOf(r, r.perSecond * batchSize);
      report(`${name}_csis`, r.perSecond * batchSize, 'CSIs/s', { ratio: true, perCore: csiPerCore });
      if (csiPerCore !== undefined) console.log(`${name}_csis_per_server_core: ${fmt(csiPerCore)} CSIs/s`);
      reportLoad(name, r);
      if (bad > 0) throw new Error(`${bad} sampled batch answers were wrong`);
    }

    // 4. Mapping acceptance with every signature check, through POST /v1/mappings: with the node's
    // default config (which keeps the private OPRF index up to date inside each accept), then with
    // the private index switched off, to show its share.
    let sent = 0;
    const accept = async (name: string, configFile: string, target?: string) => {
      const { server, tokens } = await devnet(name, configFile);
      let bad = 0;
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs,
        durationMs,
        next: () => {
          const s = subs[sent++];
          return s === undefined
            ? undefined
            : rawPost('/v1/mappings', JSON.stringify(s), {
                authorization: `Bearer ${tokens.get(s.body.msp ?? '')}`,
              });
        },
        okStatus: (s) => s === 201,
        inspectEvery: 101,
        inspect: (status, body) => {
          const a = JSON.parse(body.toString()) as { state?: string; duplicate?: boolean };
          if (status !== 201 || a.state !== 'active' || a.duplicate !== false) bad++;
        },
      });
      await stop(server, name);
      reportLoad(name, r, 'mappings/s', target);
      if (bad > 0) throw new Error(`${bad} sampled acceptance answers were wrong`);
    };
    await accept('accept_mappings', layout.configFile, '>= 2500/s');
    if ('privateLookup' in NodeConfig.properties) {
      const noIndex = join(dir, 'dp1.no-private-index.config.json');
      writeFileSync(noIndex, JSON.stringify({ ...config, privateLookup: { enabled: false } }, null, 2));
      console.log('config: private lookup disabled (privateLookup.enabled false) for the next figure');
      await accept('accept_mappings_no_private_index', noIndex);
    }
    report('accepted_total', sent, 'submissions sent (warm-up included)');
    report('db_size_after_accept', dbSize(dbPath) / 2 ** 20, 'MiB');

    await baseline('baseline_echo_end');
    printSummary();
    console.log(`total: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (args.profile)
      console.log(
        `profiles: ${readdirSync(profileDir)
          .map((f) => join(profileDir, f))
          .join(' ')}`,
      );
  } finally {
    if (!args.keep && !args.profile) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept: ${dir}`);
  }
}

function printSummary(): void {
  // Ratios are against the mean of the two baseline runs (start and end); the per-core columns
  // divide each rate by the server's measured CPU share, which discounts other load on the machine.
  const bases = rows.filter((r) => r.name === 'baseline_echo' || r.name === 'baseline_echo_end');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const base = mean(bases.map((r) => r.value));
  const baseCore = mean(bases.map((r) => r.perCore ?? r.value));
  const pct = (v: number | undefined, b: number) =>
    v === undefined || b <= 0 ? '' : `${((100 * v) / b).toFixed(1)}%`;
  const shown = (r: Row) =>
    !(r.name.endsWith('_p50') || r.name.endsWith('_p99')) ||
    r.name.startsWith('lookup_single') ||
    r.name.startsWith('baseline');
  const table = rows
    .filter(shown)
    .map((r) => [
      r.name,
      fmt(r.value),
      r.unit,
      r.ratio ? pct(r.value, base) : '',
      r.perCore === undefined ? '' : fmt(r.perCore),
      r.ratio ? pct(r.perCore, baseCore) : '',
      r.target ?? '',
    ]);
  const head = [
    'figure',
    'value',
    'unit',
    `vs baseline ${Math.round(base)}/s`,
    'per server core-s',
    `vs baseline ${Math.round(baseCore)}/core-s`,
    'target',
  ];
  const right = new Set([1, 3, 4, 5]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log('\nsummary');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
  const accept = rows.find((r) => r.name === 'accept_mappings');
  const single = rows.find((r) => r.name === 'lookup_single_verbose');
  const a = accept?.value ?? 0;
  const aCore = accept?.perCore ?? a;
  const s = single?.value ?? 0;
  const sCore = single?.perCore ?? s;
  console.log(
    `targets: single lookups ${pct(s, base)} of baseline, ${pct(sCore, baseCore)} per core-second (target 35%) ${s >= 0.35 * base ? 'MET' : 'MISSED'}; ` +
      `acceptance ${Math.round(a)}/s, ${Math.round(aCore)} per core-second (target 2500/s) ${a >= 2500 ? 'MET' : 'MISSED'}`,
  );
}

await main();
