import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The real CLI as a child process: `node dist/cli/main.js ...`, built by test/support/build-cli.ts. */
const root = resolve(import.meta.dirname, '../..');
const main = join(root, 'dist/cli/main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [main, ...args],
      { cwd: root, timeout: opts.timeoutMs ?? 30_000, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Runs with --json and parses the one JSON document on stdout. */
export async function runJson<T = Record<string, unknown>>(
  args: readonly string[],
): Promise<CliRun & { doc: T }> {
  const run = await runCli([...args, '--json']);
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
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [main, ...args], { cwd: root, stdio: 'pipe' });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, output: () => output, exited };
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
