import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const childScript = fileURLToPath(new URL('./server-child.ts', import.meta.url));

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

/**
 * Starts bench/lib/server-child.ts in a child process, pinned to `core` with taskset when
 * `pin` is set. `nodeFlags` go to node (e.g. --cpu-prof).
 */
export function startServer(opts: {
  args: string[];
  pin: boolean;
  core?: number;
  nodeFlags?: string[];
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const nodeArgs = [...(opts.nodeFlags ?? []), ...process.execArgv, childScript, ...opts.args];
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
      const m = /READY (\d+)/.exec(out);
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
