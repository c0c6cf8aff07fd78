import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Condition } from '../support/condition.js';

/** The real CLI as a child process: `node dist/bin/mimi-discovery.js ...` (the bundled command line users run), built by test/support/build-cli.ts. */
const root = resolve(import.meta.dirname, '../..');
const main = join(root, 'dist/bin/mimi-discovery.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((done) => {
    execFile(
      process.execPath,
      [main, ...args],
      { cwd: root, timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        const note = err?.killed ? `\n(the test stopped it: no exit within ${timeoutMs} ms)` : '';
        done({ code, stdout, stderr: stderr + note });
      },
    );
  });
}

/** Runs with --json and parses the one JSON document on stdout. */
export async function runJson<T = Record<string, unknown>>(
  args: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<CliRun & { doc: T }> {
  const run = await runCli([...args, '--json'], opts);
  let doc: T;
  try {
    doc = JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not one JSON document on stdout (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  return { ...run, doc };
}

/** A long-running command (devnet, serve) in the background. */
export function spawnCli(args: readonly string[]): {
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
  /**
   * Resolves once `check()` holds, asked again at each piece of output; rejects when the process
   * ends first, or after `timeoutMs` (a deadline, not a wait: the condition is the output).
   */
  until: (check: () => boolean, what: string, timeoutMs?: number) => Promise<void>;
} {
  const child = spawn(process.execPath, [main, ...args], { cwd: root, stdio: 'pipe' });
  let output = '';
  let stdout = '';
  let ended = false;
  const condition = new Condition();
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
    stdout += d.toString();
    condition.changed();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
    condition.changed();
  });
  // 'close' comes after the last output, once the streams are done.
  child.once('close', () => {
    ended = true;
    condition.changed();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const until = (check: () => boolean, what: string, timeoutMs = 20_000) =>
    condition
      .until(
        () => {
          if (check()) return true;
          if (ended) throw new Error(`the process ended before ${what}`);
          return false;
        },
        { timeoutMs, what },
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}:\n${output}`);
      });
  return { child, output: () => output, stdout: () => stdout, exited, until };
}

/**
 * Stops a background command and removes its folder. SIGTERM lets a devnet stop its DPs and wait for
 * them; after SIGKILL its orphaned DPs would still be closing their SQLite files for up to a second.
 */
export async function stopCli(run: ReturnType<typeof spawnCli>, folder: string): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGTERM');
    const stopped = await Promise.race([run.exited.then(() => true), sleep(15_000, false)]);
    if (!stopped) run.child.kill('SIGKILL');
  }
  rmSync(folder, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
}

export async function waitForHealth(url: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const res = await fetch(new URL('/healthz', url));
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}
