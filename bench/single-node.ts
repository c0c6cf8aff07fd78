/**
 * Single-node throughput: one devnet DP on one core, driven over keep-alive HTTP from another.
 * The DP is the compiled build (dist/, compiled at start), run as `mimi-discovery serve` is.
 * Run with `npx tsx bench/single-node.ts` (about 2 minutes). Options:
 *   --mappings N     mappings preloaded before the lookups (default 100000)
 *   --submissions N  signed submissions prepared for the acceptance runs (default 60000)
 *   --seconds S      measured window per figure (default 8)
 *   --warmup S       unmeasured run before each window (default 5: caches fill and V8's young
 *                    generation grows for the first seconds of a node's life)
 *   --connections C  concurrent keep-alive connections (default 16)
 *   --profile        profile the server over each measured window (not its start-up or warm-up)
 *                    and summarise where the time went
 *   --keep           keep the temp folder (database, config, profiles)
 *   --dir D          work in D: a folder kept by an earlier run (--keep) is reused as it is
 *                    (its devnet and preloaded database), so the preload is not made again
 *   --only LIST      phases to run, of single,batch,accept,soak (all by default; the echo
 *                    baseline always runs, at the start and at the end)
 *   --echo-each      an echo window before every phase too: each ratio is then against the
 *                    echo windows just before and just after its figure, so that a machine that
 *                    speeds up or slows down during the run moves both sides of a ratio alike
 *   --soak-minutes M mixed load for M minutes at the end, sampling the node's RSS every 10 s
 *                    (issue target: M = 10, RSS under 256 MiB and flat from minute 5 to 10),
 *                    and printing the node's own account of it by minute (V8's spaces, external)
 *   --node-flags=F   flags for the node under test, space-separated (e.g. a heap limit)
 *   --node-env=E     environment of the node under test, NAME=value pairs space-separated
 *                    (e.g. MALLOC_ARENA_MAX=2, which glibc reads only when a process starts)
 *   --answer-ceiling after the lookups, the bare echo again, answering each request with one
 *                    prebuilt answer the size of a verbose answer measured (single, 100 CSIs):
 *                    what sending those bytes alone costs, the ceiling of any answer that size
 *   --no-postgres    skip the PostgreSQL accept phase (which uses a fresh schema, dropped after,
 *                    in --postgres-url, default $MIMI_TEST_POSTGRES_URL or the local test database)
 * Prints `name: value unit` lines, then a summary table. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { readDevnet, writeDevnet } from '../src/cli/devnet-files.js';
import { freePort } from '../src/cli/ports.js';
import { call } from '../src/client/http.js';
import { MspAgent } from '../src/client/msp-agent.js';
import { useCryptoProvider } from '../src/crypto/provider.js';
import { nativeCrypto } from '../src/crypto/provider-native.js';
import { SignPurpose, signObject } from '../src/crypto/sign.js';
import { SessionAnswer } from '../src/protocol/answers.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import { Registry } from '../src/registry/document.js';
import { NodeConfig } from '../src/server/config.js';
import { postgresUrlOption } from './lib/args.js';
import { benchCsi, devnetSigners, type Signers } from './lib/fixtures.js';
import { type LoadOptions, type LoadResult, rawPost, runLoad } from './lib/loadgen.js';
import { preloadMappings, prepareSubmissions } from './lib/prepare.js';
import { summarise } from './lib/profile-summary.js';
import {
  buildDist,
  canPin,
  pinSelf,
  type ServerKind,
  type ServerProcess,
  startServer,
} from './lib/server.js';
import { ed25519VerifyRate } from './lib/signature-bound.js';

const { values: args } = parseArgs({
  options: {
    mappings: { type: 'string', default: '100000' },
    submissions: { type: 'string', default: '60000' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'soak-minutes': { type: 'string', default: '0' },
    dir: { type: 'string' },
    only: { type: 'string', default: 'single,batch,accept,soak' },
    'no-postgres': { type: 'boolean', default: false },
    'echo-each': { type: 'boolean', default: false },
    'answer-ceiling': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    'node-env': { type: 'string', default: '' },
    'postgres-url': postgresUrlOption,
  },
});
const mappings = Number(args.mappings);
const submissionCount = Number(args.submissions);
const durationMs = Number(args.seconds) * 1000;
const warmupMs = Number(args.warmup) * 1000;
const connections = Number(args.connections);
const batchSize = 100;
const soakMinutes = Number(args['soak-minutes']);
const nodeFlags = args['node-flags']!.split(' ').filter((f) => f !== '');
const nodeEnv = Object.fromEntries(
  args['node-env']!.split(' ')
    .filter((e) => e !== '')
    .map((e) => {
      const at = e.indexOf('=');
      if (at < 1) throw new Error(`--node-env: ${e} is not NAME=value`);
      return [e.slice(0, at), e.slice(at + 1)];
    }),
);
const preloadMarker = 'bench-preload.json';
const phases = new Set(args.only!.split(','));
for (const p of phases)
  if (!['single', 'batch', 'accept', 'soak'].includes(p)) throw new Error(`--only: unknown phase ${p}`);
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

/**
 * Resident set size of a process in MiB, from /proc (Linux), with its anonymous part (heap,
 * caches) and its file-backed part (mostly the SQLite database the reader maps: the kernel's page
 * cache, shared and reclaimable); undefined elsewhere.
 */
function rssOf(pid: number | undefined): { rss: number; anon: number; file: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return undefined;
  }
}

/**
 * The soak node's own account of its memory (BENCH_MEMORY_LOG, bench/lib/node-hooks.mjs), one
 * line per minute: RSS, V8's heap used / committed, the old and new spaces' committed pages, and
 * memory outside the heap, in MiB.
 */
function printMemoryLog(file: string): void {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MemoryLine);
  const t0 = lines[0]?.at ?? 0;
  const perMinute = lines.filter((_, i) => i === lines.length - 1 || (i + 1) % 6 === 0);
  console.log(
    'soak memory, MiB (rss | heap used/committed | old, new, large objects, code committed | external):',
  );
  for (const l of perMinute) {
    const c = (space: string) => l.spaces[space]?.[1] ?? 0;
    console.log(
      `  ${((l.at - t0) / 60_000 + 1 / 6).toFixed(1)} min: ${l.rss} | ${l.heapUsed}/${l.heapTotal} | ${c('old')}, ${c('new')}, ${c('large_object')}, ${c('code')} | ${l.external}`,
    );
  }
}

interface MemoryLine {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  spaces: Record<string, [number, number]>;
}

function reportRss(name: string, server: ServerProcess): void {
  const r = rssOf(server.child.pid);
  if (r === undefined) return;
  report(
    `rss_after_${name}`,
    r.rss,
    `MiB (anonymous ${Math.round(r.anon)}, file-backed ${Math.round(r.file)})`,
  );
}

/**
 * The bound that signatures set on accepts: Ed25519 verifications per second of one core (this
 * process, pinned to the other core) through the verifier's own primitive, divided by the
 * verifications one accept needs (attestation, holder, MSP: src/registry/verify-mapping.ts).
 */
const VERIFICATIONS_PER_ACCEPT = 3;
function verifyRate(): number {
  // The server installs the native binding (src/server/context.ts); this process would otherwise
  // measure the SDK's WebAssembly build, about a third as fast.
  useCryptoProvider(nativeCrypto);
  return ed25519VerifyRate(2);
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
  // The node under test is the compiled build, as operators run it (no TypeScript loader).
  console.log(`built dist/ from src/ in ${buildDist().toFixed(1)} s; the node runs dist/cli/main.js serve`);
  if (nodeFlags.length > 0) console.log(`node flags of the node under test: ${nodeFlags.join(' ')}`);
  if (args['node-env'] !== '') console.log(`environment of the node under test: ${args['node-env']}`);

  // A folder kept by an earlier run holds its devnet and preload; a marker says how many mappings.
  const reused = args.dir !== undefined && existsSync(join(args.dir, preloadMarker));
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'mimi-bench-'));
  const profileDir = join(dir, 'profiles');
  const memoryLog = join(dir, `memory-${process.pid}.jsonl`);
  if (!reused) writeDevnet(dir, { port: await freePort() });
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
    let runs = 0;
    if (reused) {
      const marker = JSON.parse(readFileSync(join(dir, preloadMarker), 'utf8')) as {
        mappings: number;
        runs: number;
      };
      if (marker.mappings !== mappings)
        throw new Error(
          `--dir ${dir} holds ${marker.mappings} preloaded mappings, not --mappings ${mappings}`,
        );
      runs = marker.runs;
      console.log(`preload: reusing the ${mappings} mappings in ${dir} (run ${runs + 1} on it)`);
    } else {
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
    }
    writeFileSync(join(dir, preloadMarker), JSON.stringify({ mappings, runs: runs + 1 }));
    report('db_size_after_preload', dbSize(dbPath) / 2 ** 20, 'MiB');
    report('db_bytes_per_mapping', dbSize(dbPath) / mappings, 'B');

    t = performance.now();
    // Submissions take CSIs no earlier run on this folder has stored.
    const first = mappings + runs * 1_000_000;
    const subs =
      phases.has('accept') || phases.has('soak')
        ? await prepareSubmissions({ dir, first, count: submissionCount, now, workers: 2 })
        : [];
    console.log(
      `prepared ${subs.length} signed submissions (distinct holders and CSIs) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    if (pin) pinSelf(1);

    // --profile: each measured window alone is profiled in the server (SIGUSR2 at its start and
    // end: bench/lib/node-hooks.mjs), one file per window, so start-up and warm-up stay out.
    const windows = new Map<ServerProcess, { prefix: string; files: string[] }>();
    const serve = async (server: ServerKind, phase: string): Promise<ServerProcess> => {
      const prefix = join(profileDir, phase);
      if (args.profile) mkdirSync(profileDir, { recursive: true });
      const child = await startServer({
        server,
        pin,
        core: 0,
        // --node-flags are for the node under test, not the echo it is measured against.
        nodeFlags: server.kind === 'node' ? nodeFlags : [],
        env: {
          ...(server.kind === 'node' ? nodeEnv : {}),
          ...(server.kind === 'echo' && server.answerBytes !== undefined
            ? { ECHO_ANSWER_BYTES: String(server.answerBytes) }
            : {}),
          ...(args.profile ? { BENCH_WINDOW_PROFILE: prefix } : {}),
          // The soak's node logs its own memory (bench/lib/node-hooks.mjs), to tell its RSS apart.
          ...(phase === 'soak' ? { BENCH_MEMORY_LOG: memoryLog } : {}),
        },
      });
      windows.set(child, { prefix, files: [] });
      return child;
    };
    const stop = async (server: ServerProcess, phase: string) => {
      await server.stop();
      for (const file of windows.get(server)?.files ?? [])
        console.log(`profile ${phase}: ${file}\n${summarise(file, 14)}`);
      windows.delete(server);
    };

    // Every measured window: this bench's connections, warm-up and duration against one server.
    const measure = async (
      server: ServerProcess,
      load: Omit<LoadOptions, 'port' | 'connections' | 'warmupMs' | 'durationMs'>,
    ) => {
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs,
        durationMs,
        ...load,
        onWindow: args.profile ? () => server.child.kill('SIGUSR2') : undefined,
      });
      const w = windows.get(server);
      if (args.profile && w !== undefined) {
        const file = `${w.prefix}-${w.files.length}.cpuprofile`;
        for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((res) => setTimeout(res, 100));
        w.files.push(file);
      }
      return r;
    };

    /** The body bytes of each verbose answer measured, for --answer-ceiling. */
    const answerSizes: { name: string; bytes: number; csis: number }[] = [];
    const bytesPerAnswer = (r: LoadResult) => Math.round(r.bytesPerSecond / Math.max(1, r.perSecond));

    // 1. Baseline: bare fastify echoing a small JSON body; run again at the end to show drift.
    /** One window of the bare echo; with `answerBytes`, answering a prebuilt answer that size. */
    const echoWindow = async (name: string, answerBytes?: number) => {
      const server = await serve({ kind: 'echo', answerBytes }, name);
      const body = JSON.stringify({ v: 1, csis: [benchCsi(1)], format: 'verbose' });
      const r = await measure(server, {
        next: cycle([rawPost('/echo', body)]),
      });
      await stop(server, name);
      return r;
    };
    const baseline = async (name: string) => reportLoad(name, await echoWindow(name));
    await baseline('baseline_echo');

    // 2 and 3. Lookups against the devnet node holding the preloaded mappings.
    const devnet = async (phase: string, configFile = layout.configFile) => {
      const server = await serve({ kind: 'node', config: configFile }, phase);
      const baseUrl = `http://127.0.0.1:${server.port}`;
      return { server, baseUrl, tokens: await openSessions(baseUrl, signers) };
    };
    // The first start after the preload builds the private (OPRF) index of every served CSI before
    // it listens; time it apart, then time an ordinary start.
    for (const name of ['devnet_first_start', 'devnet_start'] as const) {
      const t0 = performance.now();
      const server = await serve({ kind: 'node', config: layout.configFile }, name);
      report(name, (performance.now() - t0) / 1000, 's');
      await stop(server, name);
    }
    /** With --echo-each, an echo window before each phase (printSummary pairs each figure with its neighbours). */
    let echoes = 0;
    const echoBetween = async () => {
      if (args['echo-each']) await baseline(`baseline_echo_${++echoes}`);
    };
    if (phases.has('single')) {
      await echoBetween();
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
      for (const format of ['verbose', 'compact'] as const) {
        const pool = Array.from({ length: 20_000 }, () =>
          rawPost('/v1/lookup', JSON.stringify({ v: 1, csis: [randomCsi()], format }), auth),
        );
        let bad = 0;
        const r = await measure(server, {
          next: cycle(pool),
          inspectEvery: 997,
          inspect: (status, body) => {
            const a = JSON.parse(body.toString()) as {
              results: { status: string; mappings?: unknown[]; bits?: string }[];
            };
            const one = a.results[0];
            const shaped = format === 'verbose' ? one?.mappings?.length === 1 : typeof one?.bits === 'string';
            if (status !== 200 || one?.status !== 'one' || !shaped) bad++;
          },
        });
        if (format === 'verbose')
          answerSizes.push({ name: 'single_verbose', bytes: bytesPerAnswer(r), csis: 1 });
        reportLoad(
          `lookup_single_${format}`,
          r,
          'req/s',
          format === 'verbose' ? '>= 50% of baseline' : '>= 60% of baseline',
        );
        if (bad > 0) throw new Error(`${bad} sampled lookup answers were wrong`);
      }
      reportRss('lookup_single', server);
      await stop(server, 'lookup-single');
    }

    // Verbose with each proof inline, verbose with shared proofs (docs/spec/api.md), compact.
    const batchKinds = [
      { label: 'verbose', format: 'verbose', proofs: undefined },
      { label: 'verbose_shared', format: 'verbose', proofs: 'shared' },
      { label: 'compact', format: 'compact', proofs: undefined },
    ] as const;
    for (const { label, format, proofs } of phases.has('batch') ? batchKinds : []) {
      const phase = `lookup-batch-${label.replaceAll('_', '-')}`;
      await echoBetween();
      const { server, tokens } = await devnet(phase);
      const auth = { authorization: `Bearer ${tokens.get('msp1')}` };
      const body = (csis: string[]) => JSON.stringify({ v: 1, csis, format, ...(proofs ? { proofs } : {}) });
      if (proofs !== undefined) {
        // Older code refuses the member: say so and go on (a before/after run uses one bench).
        const probe = await fetch(`http://127.0.0.1:${server.port}/v1/lookup`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth },
          body: body([benchCsi(0)]),
        });
        if (probe.status !== 200) {
          console.log(`${phase}: not supported by this code (status ${probe.status}); skipped`);
          await stop(server, phase);
          continue;
        }
      }
      const pool = Array.from({ length: 2_000 }, () =>
        rawPost('/v1/lookup', body(Array.from({ length: batchSize }, randomCsi)), auth),
      );
      let bad = 0;
      const r = await measure(server, {
        next: cycle(pool),
        inspectEvery: 97,
        inspect: (status, body) => {
          const a = JSON.parse(body.toString()) as { results: { status: string }[] };
          if (status !== 200 || a.results.length !== batchSize || a.results.some((x) => x.status !== 'one'))
            bad++;
        },
      });
      reportRss(phase.replaceAll('-', '_'), server);
      await stop(server, phase);
      const name = `lookup_batch${batchSize}_${label}`;
      if (format === 'verbose')
        answerSizes.push({ name: `batch${batchSize}_${label}`, bytes: bytesPerAnswer(r), csis: batchSize });
      report(`${name}_bytes_per_csi`, r.bytesPerSecond / Math.max(1, r.perSecond * batchSize), 'B');
      const csiPerCore = perCoreOf(r, r.perSecond * batchSize);
      report(`${name}_csis`, r.perSecond * batchSize, 'CSIs/s', { ratio: true, perCore: csiPerCore });
      if (csiPerCore !== undefined) console.log(`${name}_csis_per_server_core: ${fmt(csiPerCore)} CSIs/s`);
      reportLoad(name, r);
      if (bad > 0) throw new Error(`${bad} sampled batch answers were wrong`);
    }

    // The answers' ceilings: the bare echo sending each verbose answer's bytes, in CSIs.
    for (const { name, bytes, csis } of args['answer-ceiling'] ? answerSizes : []) {
      await echoBetween();
      const r = await echoWindow(`ceiling-${name}`, bytes);
      const perCore = perCoreOf(r, r.perSecond * csis);
      report(`ceiling_${name}_csis`, r.perSecond * csis, `CSIs/s (${bytes} B answers)`, {
        ratio: true,
        perCore,
      });
      if (perCore !== undefined) console.log(`ceiling_${name}_csis_per_server_core: ${fmt(perCore)} CSIs/s`);
    }

    // 4. Mapping acceptance with every signature check, through POST /v1/mappings: with the node's
    // default config (which keeps the private OPRF index up to date inside each accept), then with
    // the private index switched off, to show its share.
    let sent = 0;
    const accept = async (name: string, configFile: string, target?: string) => {
      const { server, tokens } = await devnet(name, configFile);
      let bad = 0;
      const r = await measure(server, {
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
      reportRss(name, server);
      await stop(server, name);
      reportLoad(name, r, 'mappings/s', target);
      if (bad > 0) throw new Error(`${bad} sampled acceptance answers were wrong`);
    };
    if (phases.has('accept')) {
      await echoBetween();
      await accept('accept_mappings', layout.configFile, '>= 35% of the signature bound');
      if ('privateLookup' in NodeConfig.properties) {
        const noIndex = join(dir, 'dp1.no-private-index.config.json');
        // The OHTTP gateway serves the private lookup only: it goes with it.
        const { ohttp: _gateway, ...withoutGateway } = config as NodeConfig & { ohttp?: unknown };
        writeFileSync(
          noIndex,
          JSON.stringify({ ...withoutGateway, privateLookup: { enabled: false } }, null, 2),
        );
        console.log('config: private lookup disabled (privateLookup.enabled false) for the next figure');
        await accept('accept_mappings_no_private_index', noIndex);
      }
      if (!args['no-postgres']) {
        // The same accepts on PostgreSQL (one node, its default pool), private index on, in a fresh
        // schema: the node builds its empty index and log there at start; dropped afterwards.
        const schema = `bench_single_${process.pid}`;
        const onPg = join(dir, 'dp1.postgres.config.json');
        writeFileSync(
          onPg,
          JSON.stringify(
            { ...config, store: { backend: 'postgres', url: args['postgres-url'], schema } },
            null,
            2,
          ),
        );
        console.log(`config: PostgreSQL store (schema ${schema}, pool default) for the next figure`);
        try {
          await accept('accept_mappings_postgres', onPg, '>= 60% of accept_mappings');
        } finally {
          const client = new pg.Client({ connectionString: args['postgres-url'] });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
        }
      }
      const verifies = verifyRate();
      report('ed25519_verify_per_core', verifies, 'verifications/s (sodium-native, bench process)');
      report(
        'accept_signature_bound',
        verifies / VERIFICATIONS_PER_ACCEPT,
        `accepts/s (${VERIFICATIONS_PER_ACCEPT} verifications each)`,
      );
      report('accepted_total', sent, 'submissions sent (warm-up included)');
      report('db_size_after_accept', dbSize(dbPath) / 2 ** 20, 'MiB');
    }

    if (soakMinutes > 0 && phases.has('soak')) {
      await echoBetween();
      // Mixed load: single and 100-CSI lookups of both formats, and accepts while they last.
      const { server, tokens } = await devnet('soak');
      const auth = { authorization: `Bearer ${tokens.get('msp1')}` };
      const lookup = (n: number, format: string) =>
        rawPost(
          '/v1/lookup',
          JSON.stringify({ v: 1, csis: Array.from({ length: n }, randomCsi), format }),
          auth,
        );
      const pool = Array.from({ length: 4_000 }, (_, i) => {
        const k = i % 20;
        return k < 8
          ? lookup(1, 'verbose')
          : k < 14
            ? lookup(1, 'compact')
            : k < 17
              ? lookup(100, 'compact')
              : lookup(100, 'verbose');
      });
      let i = 0;
      const samples: { minute: number; rss: number; anon: number }[] = [];
      const t0 = performance.now();
      const timer = setInterval(() => {
        const minute = (performance.now() - t0) / 60_000;
        const r = rssOf(server.child.pid);
        if (r !== undefined) samples.push({ minute, rss: r.rss, anon: r.anon });
      }, 10_000);
      const r = await runLoad({
        port: server.port,
        serverPid: server.child.pid,
        connections,
        warmupMs: 0,
        durationMs: soakMinutes * 60_000,
        next: () => {
          const n = i++;
          const s = n % 20 === 19 ? subs[sent++] : undefined;
          return s === undefined
            ? pool[n % pool.length]
            : rawPost('/v1/mappings', JSON.stringify(s), {
                authorization: `Bearer ${tokens.get(s.body.msp ?? '')}`,
              });
        },
        okStatus: (st) => st === 200 || st === 201,
      });
      clearInterval(timer);
      await stop(server, 'soak');
      reportLoad('soak_mixed', r);
      console.log(
        `soak_rss_samples_MiB: ${samples.map((x) => `${x.minute.toFixed(1)}m=${Math.round(x.rss)}`).join(' ')}`,
      );
      printMemoryLog(memoryLog);
      const at = (m: number) => samples.filter((x) => x.minute >= m).at(0)?.rss;
      report('soak_rss_max', Math.max(...samples.map((x) => x.rss)), 'MiB', { target: '< 256 MiB' });
      const half = at(soakMinutes / 2);
      const end = samples.at(-1)?.rss;
      if (half !== undefined) report('soak_rss_at_half', half, 'MiB');
      if (end !== undefined) report('soak_rss_at_end', end, 'MiB', { target: 'flat from half to end' });
    }

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
    if (!args.keep && !args.profile && args.dir === undefined) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept: ${dir}`);
  }
}

/** An echo window's own row (not its p50 or p99). */
const isEcho = (r: Row) => r.name.startsWith('baseline_echo') && r.ratio === true;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * The echo a figure is set against: the mean of the echo windows just before and just after it
 * (the run's start and end unless --echo-each put one before every phase), in requests per
 * second and per server core-second.
 */
function echoAround(i: number): { base: number; baseCore: number; p99: number } {
  const before = rows.slice(0, i).findLast(isEcho);
  const after = rows.slice(i + 1).find(isEcho);
  const near = [before, after].filter((r): r is Row => r !== undefined);
  const p99 = (r: Row) => rows.find((x) => x.name === `${r.name}_p99`)?.value ?? 0;
  return {
    base: mean(near.map((r) => r.value)),
    baseCore: mean(near.map((r) => r.perCore ?? r.value)),
    p99: mean(near.map(p99)),
  };
}

function printSummary(): void {
  // Ratios are against the echo windows around each figure (echoAround); the per-core columns
  // divide each rate by the server's measured CPU share, which discounts other load on the machine.
  const bases = rows.filter(isEcho);
  const base = mean(bases.map((r) => r.value));
  const baseCore = mean(bases.map((r) => r.perCore ?? r.value));
  const pct = (v: number | undefined, b: number) =>
    v === undefined || b <= 0 ? '' : `${((100 * v) / b).toFixed(1)}%`;
  const shown = (r: Row) =>
    !(r.name.endsWith('_p50') || r.name.endsWith('_p99')) ||
    r.name.startsWith('lookup_single') ||
    r.name.startsWith('lookup_batch') ||
    r.name.startsWith('baseline');
  const table = rows
    .map((r, i) => ({ r, around: echoAround(i) }))
    .filter(({ r }) => shown(r))
    .map(({ r, around }) => [
      r.name,
      fmt(r.value),
      r.unit,
      r.ratio ? pct(r.value, around.base) : '',
      r.perCore === undefined ? '' : fmt(r.perCore),
      r.ratio ? pct(r.perCore, around.baseCore) : '',
      r.ratio && !isEcho(r) ? fmt(around.baseCore) : '',
      r.target ?? '',
    ]);
  const head = [
    'figure',
    'value',
    'unit',
    'vs echo',
    'per server core-s',
    'vs echo, per core-s',
    'echo around it, per core-s',
    'target',
  ];
  const right = new Set([1, 3, 4, 5, 6]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log('\nsummary');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
  const find = (name: string) => rows.find((r) => r.name === name);
  const perCore = (name: string) => find(name)?.perCore ?? find(name)?.value ?? 0;
  const around = (name: string) => echoAround(rows.findIndex((r) => r.name === name));
  /** A figure per server core-second against the echo around it; NaN when the run did not measure it. */
  const vsEcho = (name: string) =>
    find(name) === undefined ? Number.NaN : perCore(name) / around(name).baseCore;
  const verboseBatch = `lookup_batch${batchSize}_verbose`;
  const check = (what: string, v: number, target: number, unit = 'x') =>
    Number.isNaN(v)
      ? `${what}: not measured in this run`
      : `${what} ${v.toFixed(2)}${unit} (target ${target}${unit}) ${v >= target ? 'MET' : 'MISSED'}`;
  const bound = find('accept_signature_bound')?.value ?? 0;
  const lines = [
    check('single verbose / echo', vsEcho('lookup_single_verbose'), 0.5),
    check('single compact / echo', vsEcho('lookup_single_compact'), 0.6),
    check('batch compact CSIs / echo requests', vsEcho(`lookup_batch${batchSize}_compact_csis`), 10),
    check('batch verbose CSIs / echo requests', vsEcho(`${verboseBatch}_csis`), 3.5),
    find(`${verboseBatch}_p99`) === undefined
      ? 'batch verbose p99 / echo p99: not measured in this run'
      : `batch verbose p99 / echo p99 ${(find(`${verboseBatch}_p99`)!.value / Math.max(around(`${verboseBatch}_csis`).p99, 1e-9)).toFixed(1)}x (target under 10x)`,
    bound > 0
      ? check('accepts / signature bound', perCore('accept_mappings') / bound, 0.35)
      : 'accepts / signature bound: not measured in this run',
    ...(find('accept_mappings_postgres') === undefined
      ? []
      : [
          check(
            'PostgreSQL accepts / SQLite accepts',
            (find('accept_mappings_postgres')?.value ?? 0) /
              Math.max(1e-9, find('accept_mappings')?.value ?? 0),
            0.6,
          ),
          check(
            'PostgreSQL accepts / SQLite accepts, per server core-second',
            perCore('accept_mappings_postgres') / Math.max(1e-9, perCore('accept_mappings')),
            0.6,
          ),
        ]),
  ];
  console.log(
    `targets (per server core-second, against the echo around each figure; all echo windows: ${Math.round(base)}/s, ${Math.round(baseCore)}/core-s):`,
  );
  for (const l of lines) console.log(`  ${l}`);
}

await main();
