import { type ChildProcess, spawn } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;

/** One DP node from a config file in its own process (test/support/serve-process.ts), once listening. */
export function startNode(config: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/serve-process.ts', config], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening')) resolve(child);
    });
    child.stderr!.on('data', (c: Buffer) => {
      process.stderr.write(c);
      err = (err + c.toString()).slice(-2000);
    });
    child.once('exit', (code) =>
      reject(new Error(`node exited with ${code} before listening: ${err.trim()}`)),
    );
  });
}

/** kill -9, resolved once the process is gone. */
export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
