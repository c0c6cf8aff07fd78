/**
 * CLI start-up: how long `mimi-discovery --help` and `mimi-discovery verify` take, start to
 * exit, as a user runs them. Run `npm run build` first, then `npx tsx bench/cli-start.ts
 * [--runs N]` (default 5; a few seconds). Each command is spawned N times as
 * `/usr/bin/time -f '%e %U %S' node dist/cli/main.js ...`; prints the median wall time and the
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
const main = join(root, 'dist/cli/main.js');
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

function measure(name: string, nodeArgs: string[], runs: number): void {
  once(nodeArgs); // not counted: warms the file cache
  const all = Array.from({ length: runs }, () => once(nodeArgs));
  const wall = median(all.map((r) => r.wall));
  const cpu = median(all.map((r) => r.cpu));
  console.log(`${name}: wall ${wall.toFixed(2)} s, user+sys ${cpu.toFixed(2)} s (median of ${runs})`);
}

function run(): void {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
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
    measure('node -e 0 (the floor)', ['-e', '0'], runs);
    measure('mimi-discovery --help', [main, '--help'], runs);
    measure('mimi-discovery verify', [main, 'verify', file, '--devnet', dir], runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

run();
