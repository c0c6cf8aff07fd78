/**
 * Server CPU per accepted mapping, in-process: the node's own composition (createContext on a
 * devnet config: SQLite, the transparency log, the private index unless switched off) and
 * `DiscoveryProvider.accept` with every check, called 16 at a time as 16 connections would, plus
 * the log receipt the route adds to each answer. No HTTP: what is left is the accept itself.
 *
 *   npx tsx bench/accept-cpu.ts [--accepts N] [--warm N] [--runs R] [--only LIST] [--cpu-prof]
 *     [--postgres-url U]
 *
 * Set-ups (`--only`, comma-separated; all by default): `index` (SQLite, the default config, the
 * private index on), `no-index` (SQLite, privateLookup off), `pg-index` (PostgreSQL, one node,
 * pooled, the private index on, in a fresh schema dropped afterwards; default URL
 * $MIMI_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test). CPU is this process's:
 * PostgreSQL's own server processes are not counted (bench/single-node.ts measures the server
 * process the same way).
 *
 * Prints, per set-up, CPU microseconds per accept (process.cpuUsage, user + system, over N
 * accepts after N `--warm` unmeasured ones) for each of R runs and their median, and the
 * Ed25519 verifications per CPU second of this process (sodium-native, as the verifier checks),
 * so the 3 verifications an accept needs can be set against the total. `--cpu-prof` runs under
 * the V8 profiler and writes accept-<setup>.cpuprofile in the working folder, measured window
 * only (read it with `npx tsx bench/lib/profile-summary.ts <file>`).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { useCryptoProvider } from '../src/crypto/provider.js';
import { nativeCrypto } from '../src/crypto/provider-native.js';
import { logReceipt } from '../src/dp/log-pseudonym.js';
import type { AcceptResult } from '../src/dp/provider.js';
import { nowSeconds } from '../src/protocol/encoding.js';
import type { MappingSubmission } from '../src/protocol/records.js';
import { loadConfig } from '../src/server/config.js';
import { type Context, createContext } from '../src/server/context.js';
import { postgresUrlOption } from './lib/args.js';
import { signedSubmission, tempDevnet } from './lib/fixtures.js';
import { ed25519VerifyRate } from './lib/signature-bound.js';
import { timeAsync } from './lib/timing.js';

const { values: args } = parseArgs({
  options: {
    accepts: { type: 'string', default: '3000' },
    warm: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: 'index,no-index,pg-index' },
    'postgres-url': postgresUrlOption,
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const accepts = Number(args.accepts);
const warm = Number(args.warm);
const runs = Number(args.runs);
const inFlight = 16;

/** The route's part of an answer besides the accept: the R28 receipt (src/server/routes/mappings.ts). */
function receipt(ctx: Context, r: AcceptResult): void {
  const t = ctx.transparency;
  if (t === undefined) return;
  logReceipt({
    dp: ctx.dp.id,
    dpKey: ctx.dpKeys.records.privateKey,
    mappingId: r.id,
    holderKey: r.mapping.body.holderKey,
    pseudonym: t.keyed.of(r.mapping.body.csi).pseudonym,
  });
}

/** Accepts `subs` with `inFlight` outstanding at a time; every answer must be a new active mapping. */
async function acceptAll(ctx: Context, subs: readonly MappingSubmission[]): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let s = subs[next++]; s !== undefined; s = subs[next++]) {
      const r = await ctx.dp.accept(s);
      if (r.state !== 'active' || r.duplicate) throw new Error(`accept answered ${r.state}`);
      receipt(ctx, r);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

async function setup(name: string, privateIndex: boolean, postgres: boolean): Promise<number[]> {
  const { layout, signers, remove } = tempDevnet('mimi-accept-cpu-');
  try {
    const now = nowSeconds();
    const total = warm + runs * accepts;
    const subs = Array.from({ length: total }, (_, i) => signedSubmission(signers, i, now));
    const schema = `bench_accept_${process.pid}`;
    const ctx = await createContext(loadConfig(layout.configFile), {
      config: (c) => {
        if (postgres) c.store = { backend: 'postgres', url: args['postgres-url']!, schema };
        if (!privateIndex) {
          c.privateLookup = { enabled: false };
          delete (c as { ohttp?: unknown }).ohttp;
        }
      },
    });
    try {
      await acceptAll(ctx, subs.slice(0, warm));
      const profiler = args['cpu-prof'] ? new Session() : undefined;
      if (profiler !== undefined) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      const perAccept: number[] = [];
      for (let r = 0; r < runs; r++) {
        const slice = subs.slice(warm + r * accepts, warm + (r + 1) * accepts);
        const t = await timeAsync(
          async () => {
            await acceptAll(ctx, slice);
            return slice.length;
          },
          { calls: 1 },
        );
        perAccept.push(t.cpuMsPerOp * 1000);
      }
      if (profiler !== undefined) {
        const { profile } = await profiler.post('Profiler.stop');
        const file = `accept-${name}.cpuprofile`;
        writeFileSync(file, JSON.stringify(profile));
        console.log(`profile: ${file}`);
        profiler.disconnect();
      }
      return perAccept;
    } finally {
      await ctx.close();
      if (postgres) await dropSchema(schema);
    }
  } finally {
    remove();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: args['postgres-url'] });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const only = args.only!.split(',');
  const setups = [
    { name: 'index', privateIndex: true, postgres: false },
    { name: 'no-index', privateIndex: false, postgres: false },
    { name: 'pg-index', privateIndex: true, postgres: true },
  ].filter((s) => only.includes(s.name));
  // The verifier's primitive: the server installs the native binding (src/server/context.ts).
  useCryptoProvider(nativeCrypto);
  const before = ed25519VerifyRate();
  const results = [];
  for (const s of setups) results.push({ ...s, us: await setup(s.name, s.privateIndex, s.postgres) });
  // Before and after the accepts: a shared machine drifts; the bound is their mean.
  const verifies = (before + ed25519VerifyRate()) / 2;
  console.log(
    `ed25519_verify: ${Math.round(verifies)} verifications per CPU second (sodium-native; ${Math.round(before)} before the accepts); ` +
      `3 of them: ${Math.round(3e6 / verifies)} us, bound ${Math.round(verifies / 3)} accepts per CPU second`,
  );
  for (const { us, ...s } of results) {
    const m = median(us);
    console.log(
      `accept_cpu_${s.name.replaceAll('-', '_')}: ${Math.round(m)} us per accept (runs ${us.map((u) => Math.round(u)).join(', ')}; ` +
        `${accepts} accepts each, ${inFlight} in flight); ${Math.round(1e6 / m)} accepts per CPU second, ` +
        `${((1e6 / m / (verifies / 3)) * 100).toFixed(1)}% of the bound`,
    );
  }
}

await main();
