/**
 * Production benchmarks (issue 6): real `serve` processes on loopback, in one run:
 *   1. lookups/s and p50/p99 on one node with SQLite, one node with PostgreSQL, and two nodes
 *      sharing PostgreSQL and Redis (same DP, same schema, rateLimits.redisUrl), the load spread
 *      over both; the same workload and the same stored data (`--small` mappings) for the three;
 *   2. accepted mappings/s through POST /v1/mappings on PostgreSQL (one node, then the two),
 *      and on SQLite alongside;
 *   3. lookups on SQLite at `--large` stored mappings (default 10,000,000) against `--small`;
 *   4. memory (RSS) of every node, idle and under load.
 * The stored mappings are really signed (holder, verifier, MSP and DP signatures, log leaf),
 * made by worker threads and written through the Store interface; the SQLite databases are kept
 * in bench/.cache/production and grown, resumably, up to `--large` (see bench/README.md).
 *
 * Run: npx tsx bench/production.ts [options]
 *   --small N          mappings for the three lookup set-ups and the acceptance runs (100000)
 *   --large N          mappings of the large SQLite database (10000000); a cache with fewer is
 *                      extended first (interrupt with Ctrl-C: what was written stays for next time)
 *   --skip-large       measure the large database as it is in the cache, without extending it
 *   --generate-only    build or extend the cached databases (the SQLite files and the PostgreSQL
 *                      template schema), then stop
 *   --seconds S        measured window per figure (8); each also gets --warmup S (2) first
 *   --connections C    requests in flight, one per keep-alive connection (16)
 *   --submissions N    signed submissions prepared per acceptance run (15000)
 *   --threads T        signing worker threads (2)
 *   --runtime R        `dist` (build with tsconfig.build.json, run node dist/bin/mimi-discovery.js; falls
 *                      back to tsx when the tree does not build) or `tsx` (src/cli/main.ts)
 *   --private-lookup   keep the private (OPRF) index on in the nodes (off by default: see README)
 *   --postgres-url U   default $MIMI_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test
 *   --redis-url U      default $MIMI_TEST_REDIS_URL or redis://127.0.0.1:6379
 *   --off SECTION      switch a config section off in every node (e.g. --off log), to see its cost
 *   --only LIST        phases to run, of sqlite,postgres,two,large,accept (all by default)
 *   --cache DIR        where the databases and the devnet keys are kept (bench/.cache/production)
 * Prints `name: value` lines as it goes, then one table of every figure. No assertions: a
 * non-2xx answer or a wrong sampled answer stops the run.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { readDevnet, writeDevnet } from '../src/cli/devnet-files.js';
import { MspAgent } from '../src/client/msp-agent.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import type { MappingSubmission } from '../src/protocol/records.js';
import { Registry } from '../src/registry/document.js';
import { configDefaults, type NodeConfig } from '../src/server/config.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { postgresUrlOption } from './lib/args.js';
import { benchCsi, devnetSigners } from './lib/fixtures.js';
import { type LoadResult, rawPost, runLoad } from './lib/loadgen.js';
import {
  type BenchLogKeys,
  benchCount,
  benchLog,
  copyMappings,
  devnetLogKeys,
  extendMappings,
} from './lib/mapping-db.js';
import { peersOf, pidsByName, rssBytes } from './lib/procs.js';
import { canPin, pinSelf } from './lib/server.js';
import { SignerPool } from './lib/signer-pool.js';

const { values: args } = parseArgs({
  options: {
    small: { type: 'string', default: '100000' },
    large: { type: 'string', default: '10000000' },
    'skip-large': { type: 'boolean', default: false },
    'generate-only': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    submissions: { type: 'string', default: '15000' },
    threads: { type: 'string', default: '2' },
    runtime: { type: 'string', default: 'dist' },
    'private-lookup': { type: 'boolean', default: false },
    'postgres-url': postgresUrlOption,
    'redis-url': { type: 'string', default: process.env.MIMI_TEST_REDIS_URL || 'redis://127.0.0.1:6379' },
    cache: { type: 'string' },
    off: { type: 'string', multiple: true, default: [] },
    only: { type: 'string', default: 'sqlite,postgres,two,large,accept' },
  },
});
const count = (name: string, v: string | undefined, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer of at least ${min}`);
  return n;
};
const small = count('small', args.small, 1000);
const large = count('large', args.large, small);
const durationMs = count('seconds', args.seconds) * 1000;
const warmupMs = count('warmup', args.warmup, 0) * 1000;
const connections = count('connections', args.connections);
const submissionCount = count('submissions', args.submissions, 100);
const threads = count('threads', args.threads);
if (args.runtime !== 'dist' && args.runtime !== 'tsx') throw new Error('--runtime: dist or tsx');
const phases = new Set(args.only!.split(','));
for (const p of phases) {
  if (!['sqlite', 'postgres', 'two', 'large', 'accept'].includes(p))
    throw new Error(`--only: unknown phase ${p}`);
}
const pgUrl = args['postgres-url']!;
const redisUrl = args['redis-url']!;
const pgSchema = 'mimi_bench_production';
// The per-MSP lookup budget (R22) too: the bench measures the node, not its refusals.
const raisedLimits = {
  callerPointsPerMinute: 2_000_000_000,
  anonymousPerMinute: 1_000_000,
  mspLookupPerMinute: 2_000_000_000,
  mspLookupPerDay: 2_000_000_000,
};

const root = fileURLToPath(new URL('../', import.meta.url));
const cacheDir = args.cache ?? join(root, 'bench', '.cache', 'production');
const devnetDir = join(cacheDir, 'devnet');
const metaFile = join(cacheDir, 'meta.json');
const smallPath = join(cacheDir, `sqlite-${small}.db`);
const largePath = join(cacheDir, 'sqlite-large.db');

interface Meta {
  /** acceptedAt of every cached mapping; they expire 90 days later (the attestation's lifetime). */
  now: number;
  /** Seconds spent generating each database, summed over the runs that grew it. */
  generation: Record<string, { mappings: number; seconds: number }>;
  /** Bytes per table and index (SQLite dbstat) of each database at a size. */
  dbstat?: Record<string, { mappings: number; bytes: Record<string, number> }>;
}

// ---- output ---------------------------------------------------------------------------------

interface Figure {
  figure: string;
  setup: string;
  mappings: number;
  value: string;
  p50?: number;
  p99?: number;
  cpu?: string;
  /** The rate per CPU-second the DP used: its nodes, plus their PostgreSQL backends and Redis. */
  perCore?: string;
  rss?: string;
}
const figures: Figure[] = [];
const mib = (b: number | undefined) => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MiB`);
const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const pct = (x: number | undefined) => (x === undefined ? '?' : `${Math.round(100 * x)}%`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function fileBytes(path: string): number {
  return ['', '-wal', '-shm']
    .map((s) => `${path}${s}`)
    .filter((p) => existsSync(p))
    .reduce((sum, p) => sum + statSync(p).size, 0);
}

// ---- cached data ----------------------------------------------------------------------------

function readMeta(): Meta {
  mkdirSync(cacheDir, { recursive: true });
  if (existsSync(metaFile) && existsSync(join(devnetDir, 'devnet.json'))) {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
    // The registry lives a year, attestations 90 days: well before either, start again.
    if (nowSeconds() - meta.now < 80 * 86_400) return meta;
    console.log('cache: older than 80 days (its mappings expire at 90): starting it again');
  }
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(devnetDir, { recursive: true });
  writeDevnet(devnetDir, { port: 7400 });
  const meta: Meta = { now: nowSeconds(), generation: {} };
  writeMeta(meta);
  return meta;
}

function writeMeta(meta: Meta): void {
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
}

function logKeys(): BenchLogKeys {
  return devnetLogKeys(devnetDir);
}

/** Grows the SQLite database at `path` to `target` mappings; returns its count. */
async function growSqlite(
  meta: Meta,
  name: string,
  path: string,
  target: number,
  pool: SignerPool,
): Promise<number> {
  const store = new SqliteStore({ ...configDefaults.store.sqlite, path });
  try {
    const log = benchLog(store, logKeys(), meta.now);
    const have = await benchCount(store);
    if (have >= target) return have;
    console.log(`generate ${name}: ${int(have)} -> ${int(target)} mappings (df: ${diskFree()})`);
    const r = await extendMappings({
      store,
      log,
      pool,
      target,
      progress: (done, total, rate) => {
        const eta = (total - done) / Math.max(1, rate);
        console.log(
          `  ${name}: ${int(done)} / ${int(total)} (${int(rate)}/s, ${(eta / 60).toFixed(1)} min to go, ` +
            `${mib(fileBytes(path))}, load ${loadAverage()})`,
        );
      },
    });
    const g = meta.generation[name] ?? { mappings: 0, seconds: 0 };
    meta.generation[name] = { mappings: have + r.added, seconds: g.seconds + r.seconds };
    writeMeta(meta);
    console.log(
      `generated ${name}: ${int(r.added)} mappings in ${r.seconds.toFixed(1)} s (${int(r.added / r.seconds)}/s; ` +
        `${pool.threads} signing threads, one writer)`,
    );
    return have + r.added;
  } finally {
    await store.close();
  }
}

function diskFree(): string {
  try {
    return execFileSync('df', ['-h', '--output=avail', cacheDir], { encoding: 'utf8' })
      .split('\n')[1]!
      .trim();
  } catch {
    return '?';
  }
}

/** Bytes per table and index of a SQLite database (dbstat), cached in meta per size. */
function dbstat(meta: Meta, name: string, path: string, mappings: number): Record<string, number> {
  const known = meta.dbstat?.[name];
  if (known?.mappings === mappings) return known.bytes;
  const t = performance.now();
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as {
      name: string;
      bytes: number;
    }[];
    const bytes = Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
    meta.dbstat = { ...meta.dbstat, [name]: { mappings, bytes } };
    writeMeta(meta);
    console.log(`dbstat ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    return bytes;
  } finally {
    db.close();
  }
}

function printStorage(name: string, mappings: number, bytes: Record<string, number>, file: number): void {
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  console.log(
    `storage ${name}: ${int(mappings)} mappings, file ${mib(file)}, ${int(file / mappings)} B per mapping; by table and index:`,
  );
  for (const [table, b] of Object.entries(bytes).sort((a, b) => b[1] - a[1])) {
    if (b < total / 1000) continue;
    console.log(`  ${table.padEnd(32)} ${mib(b).padStart(10)}  ${int(b / mappings).padStart(6)} B/mapping`);
  }
}

// ---- PostgreSQL -----------------------------------------------------------------------------

async function pgQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Puts the first `n` mappings of the small SQLite database into the bench schema. They are
 * written once through the Store interface into a template schema (kept between runs while it
 * matches the SQLite database); each run then drops the bench schema, lets PostgresStore migrate
 * it afresh, and copies every table of the template into it in bulk (the acceptance runs add rows).
 */
const pgTemplate = `${pgSchema}_template`;

async function loadPostgres(meta: Meta, n: number): Promise<void> {
  await ensureTemplate(meta, n);
  await cloneTemplate();
}

/** The template schema with the first `n` mappings of the small SQLite database. */
async function ensureTemplate(meta: Meta, n: number): Promise<void> {
  const template = pgTemplate;
  const from = new SqliteStore({ ...configDefaults.store.sqlite, path: smallPath });
  try {
    const first = (await from.activeMappings([benchCsi(0)], nowSeconds())).get(benchCsi(0))?.[0]?.id;
    const have = await pgQuery<{ id: string; n: string }>(
      `SELECT (SELECT count(*) FROM ${template}.mappings) AS n,
              (SELECT id FROM ${template}.mappings WHERE csi = $1) AS id`,
      [benchCsi(0)],
    ).catch(() => []);
    if (Number(have[0]?.n) !== n || have[0]?.id !== first) {
      await pgQuery(`DROP SCHEMA IF EXISTS ${template} CASCADE`);
      // Loading only: commits without waiting for the WAL flush. The nodes run with the defaults.
      const to = await PostgresStore.open({
        ...configDefaults.store.postgres,
        url: pgUrl,
        schema: template,
        poolSize: 8,
        settings: { synchronous_commit: 'off' },
      });
      try {
        const seconds = await copyMappings({
          from,
          to,
          log: benchLog(to, logKeys(), meta.now),
          count: n,
          now: nowSeconds(),
          parallel: 8,
          progress: (done) => {
            console.log(`  postgres: ${int(done)} / ${int(n)}`);
          },
        });
        console.log(`postgres: loaded ${int(n)} mappings (same rows and log) in ${seconds.toFixed(1)} s`);
      } finally {
        await to.close();
      }
    }
  } finally {
    await from.close();
  }
}

/** A fresh bench schema, migrated by PostgresStore, with every table copied from the template. */
async function cloneTemplate(): Promise<void> {
  const template = pgTemplate;
  const t = performance.now();
  await pgQuery(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
  await (
    await PostgresStore.open({ ...configDefaults.store.postgres, url: pgUrl, schema: pgSchema, poolSize: 1 })
  ).close();
  const tables = await pgQuery<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
    [template],
  );
  for (const { table_name: table } of tables) {
    if (table === 'schema_migrations') continue;
    await pgQuery(
      `DELETE FROM ${pgSchema}.${table}; INSERT INTO ${pgSchema}.${table} OVERRIDING SYSTEM VALUE SELECT * FROM ${template}.${table}`,
    );
  }
  await pgQuery(`VACUUM ANALYZE`).catch(() => undefined);
  console.log(
    `postgres: schema ${pgSchema} copied from ${template} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}

async function postgresBytes(): Promise<Record<string, number>> {
  const rows = await pgQuery<{ relname: string; bytes: string }>(
    `SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
    [pgSchema],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.bytes)]));
}

// ---- nodes ----------------------------------------------------------------------------------

interface Node {
  child: ChildProcess;
  pid: number;
  port: number;
  baseUrl: string;
}

let runtime: { name: string; argv: string[] } = { name: 'tsx', argv: [] };
let pinned = false;
const allCores = `0-${cpus().length - 1}`;

/** The production build (`npm run build`: tools/build.mjs), or tsx on the sources when it fails. */
function chooseRuntime(): void {
  const tsxArgv = ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];
  if (args.runtime === 'tsx') {
    runtime = { name: 'tsx (src/cli/main.ts)', argv: tsxArgv };
    return;
  }
  const t = performance.now();
  try {
    execFileSync(process.execPath, [join(root, 'tools', 'build.mjs')], { cwd: root, stdio: 'pipe' });
    runtime = {
      name: 'node dist/bin/mimi-discovery.js (npm run build)',
      argv: [join(root, 'dist', 'bin', 'mimi-discovery.js')],
    };
    console.log(`runtime: built dist/ in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? err).slice(0, 400);
    console.log(`runtime: the build failed, running the sources through tsx instead:\n${out}`);
    runtime = { name: 'tsx (src/cli/main.ts; the build failed)', argv: tsxArgv };
  }
}

function writeNodeConfig(name: string, store: NodeConfig['store'], extra: Partial<NodeConfig> = {}): string {
  const base = JSON.parse(readFileSync(readDevnet(devnetDir).configFile, 'utf8')) as NodeConfig;
  const config: NodeConfig = {
    ...base,
    store,
    listen: { host: '127.0.0.1', port: 0 },
    limits: { ...base.limits, ...raisedLimits },
    privateLookup: { ...base.privateLookup, enabled: args['private-lookup'] },
    log: { ...base.log, witness: false },
    ...extra,
  };
  const sections = config as unknown as Record<string, object | undefined>;
  for (const section of args.off ?? []) sections[section] = { ...sections[section], enabled: false };
  const file = join(devnetDir, `bench-${name}.config.json`);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** One `serve` process, once it listens (its --json line). */
function startNode(config: string): Promise<Node> {
  const argv = [
    ...runtime.argv,
    'serve',
    '--config',
    config,
    '--log-level',
    'warn',
    '--json',
    '--exit-with-parent',
  ];
  // A child inherits this process's CPU affinity: once the load generator is pinned to core 1,
  // a node must be given both cores back explicitly.
  const child = pinned
    ? spawn('taskset', ['-c', allCores, process.execPath, ...argv], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${config}: no answer within 300 s`));
    }, 300_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${config}: the node exited with ${code} before listening`));
    };
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      // `serve --json` prints one (indented) JSON document once listening.
      const m = /"listening":\s*"([^"]+)"/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      const url = m[1]!;
      resolve({ child, pid: child.pid!, port: Number(new URL(url).port), baseUrl: url });
    });
  });
}

function stopNode(node: Node): Promise<void> {
  return new Promise((resolve) => {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => node.child.kill('SIGKILL'), 15_000);
    node.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    node.child.kill('SIGTERM');
  });
}

function registry(): Registry {
  const layout = readDevnet(devnetDir);
  return Registry.open(
    JSON.parse(readFileSync(join(devnetDir, 'registry.json'), 'utf8')),
    layout.registryKey,
    {
      now: nowSeconds(),
    },
  );
}

function agent(node: Node, msp: number): MspAgent {
  const signers = devnetSigners(devnetDir);
  const m = signers.msps[msp]!;
  const reg = registry();
  return new MspAgent({
    id: m.id,
    key: m.key,
    dp: { baseUrl: node.baseUrl, id: signers.dpId },
    registry: () => reg,
    isOwnUser: () => true,
  });
}

/** Not timed: the SDK fetches a few stored mappings and verifies every signature and log proof. */
async function checkServed(node: Node, mappings: number): Promise<void> {
  const sample = [benchCsi(0), benchCsi(mappings - 1), benchCsi(Math.floor(Math.random() * mappings))];
  // The SDK insists on the log proof that every stored mapping's logIndex promises (R3).
  if (args.off?.includes('log')) {
    console.log('  note: log off, so the SDK cannot verify the stored mappings; served status checked only');
    return;
  }
  const verified = await agent(node, 0).lookup(sample);
  if (verified.some((v) => v.status !== 'one')) {
    throw new Error(`${node.baseUrl}: stored mappings not served: ${JSON.stringify(verified)}`);
  }
}

// ---- measuring ------------------------------------------------------------------------------

interface Phase {
  result: LoadResult;
  rssIdle: (number | undefined)[];
  rssPeak: number[];
}

/** Runs a load against `nodes`, sampling every node's RSS; the database's CPU is counted apart. */
async function measure(
  nodes: Node[],
  conns: number,
  next: (conn: number) => Buffer | undefined,
  extra: Partial<Parameters<typeof runLoad>[0]> = {},
  postgres = false,
): Promise<Phase> {
  const rssIdle = nodes.map((n) => rssBytes(n.pid));
  const rssPeak = nodes.map(() => 0);
  const sampler = setInterval(() => {
    nodes.forEach((n, i) => {
      rssPeak[i] = Math.max(rssPeak[i]!, rssBytes(n.pid) ?? 0);
    });
  }, 250);
  const pids = nodes.map((n) => n.pid);
  try {
    const result = await runLoad({
      port: nodes[0]!.port,
      ports: nodes.map((n) => n.port),
      serverPids: pids,
      connections: conns,
      warmupMs,
      durationMs,
      next,
      groups: postgres
        ? {
            // Only the backends of these nodes' pools: the server is shared with other work.
            postgres: () => peersOf(pids, 5432, 'postgres'),
            redis: () => pidsByName('redis-server'),
          }
        : {},
      ...extra,
    });
    return { result, rssIdle, rssPeak };
  } finally {
    clearInterval(sampler);
  }
}

function cpuText(r: LoadResult): string {
  const groups = Object.entries(r.groupCpu)
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ');
  return `nodes ${pct(r.serverCpu)}, ${groups === '' ? '' : `${groups}, `}load gen ${pct(r.generatorCpu)}, other ${pct(r.otherCpu)}`;
}

function record(figure: string, setup: string, mappings: number, unit: string, p: Phase): void {
  const r = p.result;
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}x${n}`)
    .join(' ');
  const rss = p.rssIdle.map((idle, i) => `${mib(idle)} -> ${mib(p.rssPeak[i])}`).join('; ');
  console.log(
    `${figure} [${setup}, ${int(mappings)} mappings]: ${int(r.perSecond)} ${unit}, p50 ${ms(r.latency.percentile(50))} ms, ` +
      `p99 ${ms(r.latency.percentile(99))} ms, max ${ms(r.latency.max)} ms (${r.requests} in ${r.seconds.toFixed(1)} s, ` +
      `statuses ${statuses}${r.exhausted ? ', ran out of prepared requests' : ''}); cpu: ${cpuText(r)}; rss idle -> peak: ${rss}`,
  );
  if (r.errors > 0) throw new Error(`${figure} on ${setup}: ${r.errors} requests failed (${statuses})`);
  const dpCpu = (r.serverCpu ?? 0) + Object.values(r.groupCpu).reduce((a, b) => a + b, 0);
  const perCore = dpCpu > 0 ? `${int(r.perSecond / dpCpu)}` : '?';
  console.log(`  ${figure}_per_dp_core_second: ${perCore} (the DP used ${dpCpu.toFixed(2)} cores)`);
  figures.push({
    figure,
    setup,
    mappings,
    value: `${int(r.perSecond)} ${unit}`,
    perCore,
    p50: r.latency.percentile(50),
    p99: r.latency.percentile(99),
    cpu: cpuText(r),
    rss,
  });
}

/** Single-CSI verbose lookups of random stored CSIs, `conns` in flight, spread over `nodes`. */
async function lookups(
  figure: string,
  setup: string,
  nodes: Node[],
  mappings: number,
  conns: number,
  postgres = false,
): Promise<void> {
  const pools: Buffer[][] = [];
  for (const node of nodes) {
    await checkServed(node, mappings);
    const auth = { authorization: `Bearer ${await agent(node, 0).sessionToken()}` };
    pools.push(
      Array.from({ length: 20_000 }, () =>
        rawPost(
          '/v1/lookup',
          JSON.stringify({ v: 1, csis: [benchCsi(Math.floor(Math.random() * mappings))], format: 'verbose' }),
          auth,
        ),
      ),
    );
  }
  const sent = nodes.map(() => 0);
  let bad = 0;
  const phase = await measure(
    nodes,
    conns,
    (conn) => {
      const k = conn % nodes.length;
      const pool = pools[k]!;
      return pool[sent[k]!++ % pool.length];
    },
    {
      inspectEvery: 997,
      inspect: (status, body) => {
        const a = JSON.parse(body.toString()) as { results: { status: string }[] };
        if (status !== 200 || a.results[0]?.status !== 'one') bad++;
      },
    },
    postgres,
  );
  record(figure, setup, mappings, 'lookups/s', phase);
  if (bad > 0) throw new Error(`${figure}: ${bad} sampled answers were wrong`);
}

/** Accepted mappings/s: fresh signed submissions through POST /v1/mappings, each MSP with its token. */
async function accepts(
  setup: string,
  nodes: Node[],
  mappings: number,
  subs: MappingSubmission[],
  postgres = false,
): Promise<void> {
  const mspIds = devnetSigners(devnetDir).msps.map((m) => m.id);
  const tokens = await Promise.all(
    nodes.map(async (node) => {
      const t = new Map<string, string>();
      for (let k = 0; k < mspIds.length; k++) t.set(mspIds[k]!, await agent(node, k).sessionToken());
      return t;
    }),
  );
  let sent = 0;
  let bad = 0;
  const phase = await measure(
    nodes,
    connections,
    (conn) => {
      const s = subs[sent++];
      if (s === undefined) return undefined;
      const token = tokens[conn % nodes.length]!.get(s.body.msp ?? '');
      return rawPost('/v1/mappings', JSON.stringify(s), { authorization: `Bearer ${token}` });
    },
    {
      okStatus: (s) => s === 201,
      inspectEvery: 101,
      inspect: (status, body) => {
        const a = JSON.parse(body.toString()) as { state?: string; duplicate?: boolean };
        if (status !== 201 || a.state !== 'active' || a.duplicate !== false) bad++;
      },
    },
    postgres,
  );
  record('accept', setup, mappings, 'mappings/s', phase);
  if (bad > 0) throw new Error(`accept on ${setup}: ${bad} sampled answers were wrong`);
}

// ---- the run --------------------------------------------------------------------------------

function printTable(): void {
  const head = [
    'figure',
    'set-up',
    'stored',
    'rate',
    'per DP core-s',
    'p50 ms',
    'p99 ms',
    'cpu (share of one core)',
    'rss idle -> peak',
  ];
  const table = figures.map((f) => [
    f.figure,
    f.setup,
    int(f.mappings),
    f.value,
    f.perCore ?? '',
    f.p50 === undefined ? '' : ms(f.p50),
    f.p99 === undefined ? '' : ms(f.p99),
    f.cpu ?? '',
    f.rss ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const right = new Set([2, 3, 4, 5, 6]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(`\n${line(head)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, ` +
      `load average ${loadAverage()}, disk free ${existsSync(cacheDir) ? diskFree() : '?'}`,
  );
  const meta = readMeta();

  // Data: the small database, then the large one grown from a copy of it.
  const pool = new SignerPool({ dir: devnetDir, now: meta.now, threads });
  let largeCount: number;
  try {
    await growSqlite(meta, 'small', smallPath, small, pool);
    if (!existsSync(largePath)) copyFileSync(smallPath, largePath);
    largeCount = args['skip-large']
      ? args['generate-only']
        ? 0
        : await (async () => {
            const s = new SqliteStore({ ...configDefaults.store.sqlite, path: largePath });
            try {
              return await benchCount(s);
            } finally {
              await s.close();
            }
          })()
      : await growSqlite(meta, 'large', largePath, large, pool);
  } finally {
    await pool.close();
  }
  for (const [name, g] of Object.entries(meta.generation)) {
    console.log(
      `generation ${name}: ${int(g.mappings)} mappings, ${(g.seconds / 60).toFixed(1)} min in all (${int(g.mappings / g.seconds)}/s)`,
    );
  }
  const smallBytes = dbstat(meta, 'small', smallPath, small);
  printStorage('sqlite small', small, smallBytes, fileBytes(smallPath));
  if (largeCount > 0 && largeCount < large) {
    console.log(`note: the large database holds ${int(largeCount)} mappings, not ${int(large)}`);
  }
  if (args['generate-only']) {
    await ensureTemplate(meta, small);
    if (largeCount > small) {
      printStorage(
        'sqlite large',
        largeCount,
        dbstat(meta, 'large', largePath, largeCount),
        fileBytes(largePath),
      );
    }
    return;
  }

  chooseRuntime();
  const needPostgres = phases.has('postgres') || phases.has('two') || phases.has('accept');
  if (needPostgres) await loadPostgres(meta, small);
  const pgBytes = needPostgres ? await postgresBytes() : {};
  const pgTotal = Object.values(pgBytes).reduce((a, b) => a + b, 0);
  console.log(
    `storage postgres: ${mib(pgTotal)}, ${int(pgTotal / small)} B per mapping (tables with indexes and TOAST)`,
  );
  for (const [t, b] of Object.entries(pgBytes)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)) {
    console.log(`  ${t.padEnd(32)} ${mib(b).padStart(10)}  ${int(b / small).padStart(6)} B/mapping`);
  }

  // Submissions for the acceptance runs: CSIs beyond every stored one.
  const signPool = new SignerPool({ dir: devnetDir, now: nowSeconds(), threads });
  let t = performance.now();
  const firstFresh = Math.max(largeCount, small);
  const subCount = phases.has('accept') ? submissionCount : 0;
  const pgSubs = await signPool.submissions(firstFresh, firstFresh + subCount);
  const pgTwoSubs = await signPool.submissions(firstFresh + subCount, firstFresh + 2 * subCount);
  const sqliteSubs = await signPool.submissions(firstFresh + 2 * subCount, firstFresh + 3 * subCount);
  await signPool.close();
  console.log(
    `prepared ${int(3 * subCount)} signed submissions in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const pin = canPin();
  if (pin) pinSelf(1);
  pinned = pin;
  console.log(
    `set-up: ${runtime.name}; ${pin ? 'load generator pinned to core 1 (taskset), so it takes at most one core' : 'load generator not pinned'}; ` +
      `nodes, PostgreSQL and Redis unpinned on both cores; ${connections} requests in flight (one per keep-alive connection, ` +
      `split evenly over the nodes); ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s per figure; log on, witness off, ` +
      `private lookup ${args['private-lookup'] ? 'on' : 'off'}; rate limits raised (${raisedLimits.callerPointsPerMinute} points/min)`,
  );

  const tmp = join(tmpdir(), `mimi-bench-production-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const nodes: Node[] = [];
  const run = async (configs: string[], fn: (ns: Node[]) => Promise<void>) => {
    const ns: Node[] = [];
    try {
      for (const c of configs) {
        t = performance.now();
        const node = await startNode(c);
        ns.push(node);
        nodes.push(node);
        console.log(`  node on :${node.port} up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
      await fn(ns);
    } finally {
      await Promise.all(ns.map(stopNode));
    }
  };
  try {
    const sqliteSmall = writeNodeConfig('sqlite-small', { backend: 'sqlite', path: smallPath });
    const sqliteLarge = writeNodeConfig('sqlite-large', { backend: 'sqlite', path: largePath });
    const pgStore: NodeConfig['store'] = { backend: 'postgres', url: pgUrl, schema: pgSchema };
    const pgOne = writeNodeConfig('postgres', pgStore);
    const shared = { rateLimits: { redisUrl, keyPrefix: `mimi-bench-${process.pid}` } };
    const pgTwo = [0, 1].map((i) => writeNodeConfig(`postgres-redis-${i}`, pgStore, shared));

    // 1. The same lookups on the same 100,000 mappings: SQLite, PostgreSQL, two nodes.
    if (phases.has('sqlite')) {
      await run([sqliteSmall], async ([n]) => {
        await lookups('lookup', '1 node, SQLite', [n!], small, connections);
        await lookups('lookup, 1 in flight', '1 node, SQLite', [n!], small, 1);
      });
    }
    if (phases.has('postgres')) {
      await run([pgOne], async ([n]) => {
        await lookups('lookup', '1 node, PostgreSQL', [n!], small, connections, true);
        await lookups('lookup, 1 in flight', '1 node, PostgreSQL', [n!], small, 1, true);
      });
    }
    if (phases.has('two')) {
      await run(pgTwo, async (ns) => {
        await lookups('lookup', '2 nodes, PostgreSQL + Redis', ns, small, connections, true);
      });
    }

    // 3. The large SQLite database, same workload.
    if (largeCount > small && phases.has('large')) {
      await run([sqliteLarge], async ([n]) => {
        await lookups('lookup', '1 node, SQLite', [n!], largeCount, connections);
        await lookups('lookup, 1 in flight', '1 node, SQLite', [n!], largeCount, 1);
      });
    }

    // 2. Acceptance: PostgreSQL (one node, then SQLite on a copy of the same database).
    if (phases.has('accept')) {
      await run([pgOne], async ([n]) => {
        await accepts('1 node, PostgreSQL', [n!], small, pgSubs, true);
      });
      await run(pgTwo, async (ns) => {
        await accepts('2 nodes, PostgreSQL + Redis', ns, small, pgTwoSubs, true);
      });
      const copy = join(tmp, 'accept.db');
      copyFileSync(smallPath, copy);
      const sqliteCopy = writeNodeConfig('sqlite-accept', { backend: 'sqlite', path: copy });
      await run([sqliteCopy], async ([n]) => {
        await accepts('1 node, SQLite', [n!], small, sqliteSubs);
      });
    }
  } finally {
    await Promise.all(nodes.map(stopNode));
    rmSync(tmp, { recursive: true, force: true });
  }

  printTable();
  if (largeCount > small && phases.has('large')) {
    const bytes = dbstat(meta, 'large', largePath, largeCount);
    printStorage('sqlite large', largeCount, bytes, fileBytes(largePath));
  }
  console.log(
    `\nload average at the end: ${loadAverage()}; total ${((performance.now() - started) / 60_000).toFixed(1)} min`,
  );
}

await main();
// A signing thread replaced after a stall may never finish terminating; nothing is left to wait for.
process.exit(0);
