import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/devnet.js';
import { runCli, runJson, spawnCli, stopCli, waitForHealth } from './run-cli.js';

/** A devnet as a newcomer starts it, driven by the holder, lookup and verify commands. */
describe('devnet, holder, lookup and verify as child processes', { timeout: 120_000 }, () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mimi-cli-devnet-')), 'net');
  let devnet: ReturnType<typeof spawnCli>;
  let mappingFile = '';

  beforeAll(async () => {
    const port = await freePort(3); // the devnet's three DPs
    devnet = spawnCli(['devnet', '--dir', dir, '--port', String(port), '--log-level', 'warn']);
    await waitForHealth(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    await stopCli(devnet, join(dir, '..'));
  });

  it('prints a banner with the endpoints, the folder, the registry key and next commands', async () => {
    // The banner follows once every DP answers.
    await devnet.until(() => devnet.output().includes('demo'), 'the banner', 10_000);
    const banner = devnet.output();
    expect(banner).toMatch(/dp1 +http:\/\/127\.0\.0\.1:\d+ +\(also verifier1\)/);
    expect(banner).toContain('dp3');
    const { registryKey } = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8'));
    expect(banner).toContain(registryKey);
    expect(banner).toContain('holder publish --devnet');
    expect(banner).toContain('lookup --devnet');
    expect(banner).toContain('demo');
  });

  it('publishes, looks up verbose and compact, and writes the mapping file', async () => {
    const pub = await runJson<{ id: string; state: string; file: string }>([
      'holder',
      'publish',
      '--devnet',
      dir,
      '--csi',
      '+1 415 555 0101',
      '--msp',
      'msp1',
      '--user',
      'bob',
    ]);
    expect(pub.stderr).toBe('');
    expect(pub.doc.state).toBe('active');
    mappingFile = pub.doc.file;
    expect(mappingFile).toBe(join(dir, 'mappings', `${pub.doc.id}.json`));
    const second = await runCli([
      'holder',
      'publish',
      '--devnet',
      dir,
      '--csi',
      'tel:+14155550101',
      '--msp',
      'msp2',
      '--user',
      'bob',
      '--tag',
      'business',
      '--priority',
      '5',
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toContain('proved possession'); // the saved attestation was reused

    const verbose = await runCli([
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp3',
      '+1 415 555 0101',
      '+1 415 555 0199',
    ]);
    expect(verbose.code).toBe(0);
    expect(verbose.stdout).toMatch(
      /tel:\+14155550101 {2}several[^\n]*\n {2}1\. Default +msp1[^\n]*\n {2}2\. business +msp2/,
    );
    expect(verbose.stdout).toContain('tel:+14155550199  none');
    const compact = await runJson<{ results: { msps: string[] }[] }>([
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp3',
      '--compact',
      '+1 415 555 0101',
    ]);
    expect(compact.doc.results[0]?.msps.sort()).toEqual(['msp1', 'msp2']);
  });

  it('verify says ok on the real mapping, FAILED [holder-signature-invalid] after editing its tag', async () => {
    const ok = await runCli(['verify', mappingFile, '--devnet', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok {2}mapping /);
    const { registryKey } = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8'));
    const explicit = await runCli([
      'verify',
      mappingFile,
      '--registry',
      join(dir, 'registry.json'),
      '--registry-key',
      registryKey,
    ]);
    expect(explicit.code).toBe(0);

    const edited = JSON.parse(readFileSync(mappingFile, 'utf8'));
    edited.body.tag = 'business';
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify(edited));
    const bad = await runCli(['verify', tampered, '--devnet', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout.trim()).toMatch(/^FAILED \[holder-signature-invalid\]: /);
    const badJson = await runJson<{ ok: boolean; code: string }>(['verify', tampered, '--devnet', dir]);
    expect(badJson.code).toBe(1);
    expect(badJson.doc).toMatchObject({ ok: false, code: 'holder-signature-invalid' });
  });

  it('invalidates, opts out, rotates', async () => {
    const inv = await runJson<{ invalidated: string[] }>([
      'holder',
      'invalidate',
      '--devnet',
      dir,
      '--csi',
      '+1 415 555 0101',
      '--all',
    ]);
    // dp1 withdraws the msp1 mapping it holds; the holder-signed request is relayed to dp2, which
    // withdraws the msp2 one, so a federated lookup soon finds nothing.
    expect(inv.doc.invalidated).toHaveLength(1);
    let status = '';
    for (let i = 0; i < 50 && status !== 'none'; i++) {
      const r = await runJson<{ results: { status: string }[] }>([
        'lookup',
        '--devnet',
        dir,
        '--as',
        'msp3',
        '+1 415 555 0101',
      ]);
      status = r.doc.results[0]?.status ?? '';
    }
    expect(status).toBe('none');
    const opt = await runJson<{ state: string }>([
      'holder',
      'opt-out',
      '--devnet',
      dir,
      '--csi',
      '+1 415 555 0101',
    ]);
    expect(opt.doc.state).toBe('active');
    const look = await runJson<{ results: { status: string }[] }>([
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp3',
      '+1 415 555 0101',
    ]);
    expect(look.doc.results[0]?.status).toBe('opt-out');
    const rot = await runJson<{ oldKey: string; newKey: string }>([
      'holder',
      'rotate',
      '--devnet',
      dir,
      '--csi',
      '+1 415 555 0101',
    ]);
    expect(rot.code).toBe(0);
    expect(rot.doc.newKey).not.toBe(rot.doc.oldKey);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    devnet.child.kill('SIGTERM');
    expect(await devnet.exited).toBe(0);
  });
});
