import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDevnet } from '../../src/cli/devnet-files.js';
import { Condition } from '../support/condition.js';
import { freePort } from '../support/devnet.js';
import { waitForHealth } from './run-cli.js';

const main = join(resolve(import.meta.dirname, '../..'), 'dist/bin/mimi-discovery.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A DP started by a devnet (`serve --exit-with-parent`) writes its logs into a pipe its parent
 * reads. When the parent is killed, the pipe has no reader: the node must still shut down and exit,
 * not retry its log lines forever.
 */
describe('a node whose parent is killed', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-orphan-'));
  let child = 0;
  afterAll(() => {
    if (child > 0 && alive(child)) process.kill(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  });

  it('exits, though its log pipe is gone, when it logs at info', async () => {
    const port = await freePort();
    const layout = writeDevnet(dir, { port });
    // The parent: a node that starts the DP with its output piped to itself, says the DP's pid,
    // and keeps reading, as a devnet does, until it is killed.
    const script = `
      const { spawn } = require('node:child_process');
      const dp = spawn(process.execPath, ${JSON.stringify([main, 'serve', '--config', layout.configFile, '--log-level', 'info', '--exit-with-parent'])}, { stdio: ['ignore', 'pipe', 'pipe'] });
      dp.stdout.resume(); dp.stderr.resume();
      process.stdout.write(dp.pid + '\\n');
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const said = new Condition();
    parent.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      said.changed();
    });
    await said.until(() => out.includes('\n'), { timeoutMs: 10_000, what: "the DP's pid" });
    child = Number(out.trim());
    await waitForHealth(layout.endpoint);
    // A request, so that there are request logs in flight too.
    expect((await fetch(`${layout.endpoint}/healthz`)).status).toBe(200);
    parent.kill('SIGKILL');
    // A child process: polled with a deadline (the watch for the parent runs every 500 ms, the
    // drain takes its own bound).
    const until = Date.now() + 30_000;
    while (alive(child) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(alive(child)).toBe(false);
  });
});
