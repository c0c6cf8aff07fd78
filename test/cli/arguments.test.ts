import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runJson } from './run-cli.js';

describe('argument validation: typed errors, non-zero exit', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-cli-args-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a bad phone number is invalid-phone', async () => {
    const run = await runCli(['lookup', '--devnet', dir, '--as', 'msp3', '415 555 0101']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[invalid-phone\]: /);
    const json = await runJson<{ code: string; type: string }>([
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp3',
      '+1 415 555',
    ]);
    expect(json.code).toBe(1);
    expect(json.doc.code).toBe('invalid-phone');
    expect(json.doc.type).toBe('urn:mimi-discovery:problem:invalid-phone');
  });

  it('an unknown command is a usage error', async () => {
    const run = await runCli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error \[usage\]: unknown command 'frobnicate'/);
  });

  it('a missing --devnet is a usage error', async () => {
    const run = await runCli([
      'holder',
      'publish',
      '--csi',
      '+1 415 555 0101',
      '--msp',
      'msp1',
      '--user',
      'bob',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error \[usage\]: required option '--devnet <dir>'/);
  });

  it('a folder that is not a devnet, a bad id, a bad number option', async () => {
    const notDevnet = await runCli(['holder', 'prove', '--devnet', dir, '--csi', '+1 415 555 0101']);
    expect(notDevnet.stderr).toMatch(/^error \[not-a-devnet\]/);
    const badId = await runCli(['lookup', '--devnet', dir, '--as', 'Msp3', '+1 415 555 0101']);
    expect(badId.stderr).toMatch(/^error \[invalid-argument\]: --as "Msp3"/);
    const badFlag = await runCli(['verify', join(dir, 'x.json')]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/^error \[usage\]: say which registry/);
  });
});
