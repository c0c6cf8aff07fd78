/**
 * CLI start-up: how long `mimi-discovery --help` and `mimi-discovery verify` take, start to
 * exit, as a user runs them. Run `npm run build` first, then `npx tsx bench/cli-start.ts
 * [--runs N]` (default 5; a few seconds). Each command is spawned N times as
 * `/usr/bin/time -f '%e %U %S' node dist/bin/mimi-discovery.js ...` (the bundled command line,
 * tools/build.mjs), and as often, alternately, from tsc's one file per module
 * (`dist/cli/main.js`, what the bin was before the bundle); prints the median wall time and the
 * median user+sys CPU time, which a loaded machine disturbs less than the wall time.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeDevnet } from '../src/cli/devnet-files.js';
import { numberArg } from './lib/args.js';
import { acceptedRow, devnetSigners, signedSubmission } from './lib/fixtures.js';

const root = resolve(import.meta.dirname, '..');
const bundled = join(root, 'dist/bin/mimi-discovery.js');
const unbundled = join(root, 'dist/cli/main.js');
const time = '/usr/bin/time';

function runsArg(): number {
  const n = numberArg('runs', 5);
  if (!Number.isInteger(n) || n < 1) throw new Error('--runs takes a whole number from 1');
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One `node <nodeArgs>` under /usr/bin/time: its wall and user+sys seconds. */
function once(nodeArgs: string[]): { wall: number; cpu: number } {
  const r = spawnSync(time, ['-f', '%e %U %S', process.execPath, ...nodeArgs], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`node ${nodeArgs.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [wall, user, sys] = last.split(' ').map(Number);
  if (wall === undefined || user === undefined || sys === undefined || [wall, user, sys].some(Number.isNaN))
    throw new Error(`unexpected /usr/bin/time output: ${last}`);
  return { wall, cpu: user + sys };
}

/** Each of `variants` run `runs` times, taking turns, after one uncounted run each (file cache). */
function measure(name: string, variants: Record<string, string[]>, runs: number): void {
  const entries = Object.entries(variants);
  for (const [, nodeArgs] of entries) once(nodeArgs);
  const all = entries.map(() => [] as { wall: number; cpu: number }[]);
  for (let i = 0; i < runs; i++) {
    entries.forEach(([, nodeArgs], j) => {
      all[j]!.push(once(nodeArgs));
    });
  }
  entries.forEach(([variant], j) => {
    const wall = median(all[j]!.map((r) => r.wall));
    const cpu = median(all[j]!.map((r) => r.cpu));
    console.log(
      `${name}${variant}: wall ${wall.toFixed(2)} s, user+sys ${cpu.toFixed(2)} s (median of ${runs})`,
    );
  });
}

/** The same command from the bundle and from tsc's output. */
function both(args: string[]): Record<string, string[]> {
  return { '': [bundled, ...args], ' (unbundled: dist/cli/main.js)': [unbundled, ...args] };
}

function run(): void {
  for (const f of [bundled, unbundled])
    if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
  if (!existsSync(time)) throw new Error(`${time} is missing (Debian: apt-get install time)`);
  const runs = runsArg();
  // A devnet folder (registry, keys) and one fully signed mapping to verify, made in-process.
  const dir = mkdtempSync(join(tmpdir(), 'mimi-bench-cli-'));
  try {
    writeDevnet(dir, { port: 1 });
    const signers = devnetSigners(dir);
    const now = Math.floor(Date.now() / 1000);
    const file = join(dir, 'mapping.json');
    writeFileSync(file, acceptedRow(signers, signedSubmission(signers, 0, now), now).json);
    measure('node -e 0 (the floor)', { '': ['-e', '0'] }, runs);
    measure('mimi-discovery --help', both(['--help']), runs);
    measure('mimi-discovery verify', both(['verify', file, '--devnet', dir]), runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

run();
