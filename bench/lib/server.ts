import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const echoScript = fileURLToPath(new URL('./echo-server.mjs', import.meta.url));
const hooksScript = fileURLToPath(new URL('./node-hooks.mjs', import.meta.url));
// tsc's per-module build of the same code the bin bundles: the node runs alike once started, and
// a profile names each function's source file instead of a chunk of the bundle.
const mainScript = join(root, 'dist/cli/main.js');

/** Whether `taskset` exists and there are two cores to split between server and load generator. */
export function canPin(): boolean {
  if (availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of this process (the load generator) to `core`. */
export function pinSelf(core: number): void {
  execFileSync('taskset', ['-a', '-cp', String(core), String(process.pid)], { stdio: 'ignore' });
}

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The node under test: the echo baseline, or the deployed build serving a config file. */
export type ServerKind = { kind: 'echo'; answerBytes?: number } | { kind: 'node'; config: string };

/**
 * Starts the server in a child process, pinned to `core` with taskset when `pin` is set: the
 * echo baseline (bench/lib/echo-server.mjs), or the node as operators run it,
 * `node dist/cli/main.js serve --json --log-level warn --config <file>` (the compiled build, no TypeScript loader:
 * call `buildDist` first). bench/lib/node-hooks.mjs is loaded into either (window profiles,
 * memory log: set by `env`). `nodeFlags` go to node (e.g. --max-old-space-size).
 */
export function startServer(opts: {
  server: ServerKind;
  pin: boolean;
  core?: number;
  nodeFlags?: string[];
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const script =
    opts.server.kind === 'echo'
      ? [echoScript]
      : [mainScript, 'serve', '--json', '--log-level', 'warn', '--config', opts.server.config];
  const nodeArgs = [...(opts.nodeFlags ?? []), '--import', hooksScript, ...script];
  const child = opts.pin
    ? spawn('taskset', ['-c', String(opts.core ?? 0), process.execPath, ...nodeArgs], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...opts.env },
      })
    : spawn(process.execPath, nodeArgs, {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...opts.env },
      });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the server child did not listen within 600 s'));
    }, 600_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`server child exited early with ${code}`));
    };
    child.once('exit', onExit);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"listening":\s*"http:\/\/[^"]*:(\d+)"/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({
        port: Number(m[1]),
        child,
        stop: () =>
          new Promise<void>((res) => {
            if (child.exitCode !== null) return res();
            child.once('exit', () => res());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/**
 * Builds dist/ as `npm run build` does (tools/build.mjs: tsc, then the bundled command line), so
 * that the node under test is the code in the tree; returns the seconds it took.
 */
export function buildDist(): number {
  const t0 = performance.now();
  execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit' });
  return (performance.now() - t0) / 1000;
}
