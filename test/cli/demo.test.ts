import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runJson } from './run-cli.js';

describe('demo: the narrated walk on a fresh devnet', { timeout: 120_000 }, () => {
  const parent = mkdtempSync(join(tmpdir(), 'mimi-cli-demo-'));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('exits 0 and tells every scenario, with its requirement ids and evidence', async () => {
    const dir = join(parent, 'walk');
    const run = await runCli(['demo', '--dir', dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    for (const expected of [
      'Bob proves he holds +1 415 555 0101',
      'R1:',
      'msp1 mimi://chat.example/u/bob tag Default: active',
      'msp2 mimi://talk.example/u/bob tag business priority 5: active',
      'tel:+14155550101  several',
      'bits 110',
      'tel:+14155550199  none',
      'tel:+14155550102  opt-out',
      'Bob invalidates his business mapping',
      'Bob rotates his holder key',
      '[holder-key-retired]',
      'state contested',
      'R17: the older holder keeps precedence',
      'FAILED [holder-signature-invalid]',
      'DP answer: [holder-signature-invalid]',
      '[msp-not-registered]',
      '[too-many-attempts]',
      'the DPs saw buckets',
      'All 19 steps behaved as the requirements say.',
      'through the relay',
      'paid with Privacy Pass tokens',
      'dp1 saw:',
      'relay saw:',
      'mimi:alice@example.net',
      'verified (DNSSEC insecure)',
      `The files are left in ${dir}`,
    ]) {
      expect(out).toContain(expected);
    }
    expect(out).not.toContain('STEP FAILED');
    expect(readdirSync(dir)).toEqual(
      expect.arrayContaining(['registry.json', 'keys', 'holders', 'mappings', 'dp1.db', 'outbox.jsonl']),
    );
  });

  it('--json gives one document with every step passed', async () => {
    const run = await runJson<{ ok: boolean; steps: { ok: boolean; title: string }[] }>([
      'demo',
      '--dir',
      join(parent, 'json'),
    ]);
    expect(run.code).toBe(0);
    expect(run.doc.ok).toBe(true);
    expect(run.doc.steps).toHaveLength(19);
    expect(run.doc.steps.every((s) => s.ok)).toBe(true);
  });

  it('refuses a folder that is not empty', async () => {
    const full = join(parent, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'notes.txt'), 'mine\n');
    const run = await runCli(['demo', '--dir', full]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[invalid-argument\]: --dir .* is not empty/);
  });
});
