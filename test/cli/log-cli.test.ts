import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/devnet.js';
import { runCli, runJson, spawnCli, stopCli, waitForHealth } from './run-cli.js';

/** `log audit` follows a DP's log and reports forks; `log monitor` finds a holder's entries by pseudonym. */
describe('mimi-discovery log audit and log monitor', () => {
  const base = mkdtempSync(join(tmpdir(), 'mimi-cli-log-'));
  const dir = join(base, 'net');
  const state = join(base, 'audit.json');
  let devnet: ReturnType<typeof spawnCli>;
  const publish = (csi: string, user: string, extra: string[] = []) =>
    runCli(['holder', 'publish', '--devnet', dir, '--csi', csi, '--msp', 'msp1', '--user', user, ...extra]);

  beforeAll(async () => {
    const port = await freePort(3); // the devnet's three DPs
    devnet = spawnCli(['devnet', '--dir', dir, '--port', String(port), '--log-level', 'warn']);
    await waitForHealth(`http://127.0.0.1:${port}`);
    expect((await publish('+1 415 555 0101', 'bob')).code).toBe(0);
  });
  afterAll(async () => {
    await stopCli(devnet, base);
  });

  it('audit: first checkpoint, then consistency and a recomputed root; a fork is reported with evidence', async () => {
    type Audit = { ok: boolean; size: number };
    const audit = (...extra: string[]) =>
      runJson<Audit>(['log', 'audit', '--devnet', dir, '--state', state, ...extra]);
    const first = await audit();
    expect(first.code).toBe(0);
    expect(first.doc).toMatchObject({ ok: true, previousSize: null });
    expect((await publish('+1 415 555 0102', 'carol')).code).toBe(0);
    // Checkpoints are signed every second (and on demand by lookups): ask again (at most 10 s) until
    // one covers Carol's leaves. An audit that sees no growth leaves the saved size as it was.
    let second = await audit('--recompute');
    for (let i = 0; second.code === 0 && second.doc.size <= first.doc.size && i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      second = await audit('--recompute');
    }
    expect(second.code).toBe(0);
    expect(second.doc).toMatchObject({
      ok: true,
      consistent: true,
      recomputed: true,
      previousSize: first.doc.size,
    });
    expect(second.doc.size).toBeGreaterThan(first.doc.size);
    expect(JSON.parse(readFileSync(state, 'utf8')).edge.length).toBeGreaterThan(0);
    const text = await runCli(['log', 'audit', '--devnet', dir, '--state', state]);
    expect(text.stdout).toContain('consistent with the');

    // A view the auditor saw before that the log does not extend: a fork.
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    writeFileSync(state, JSON.stringify({ ...saved, rootHash: 'A'.repeat(43), edge: undefined }));
    const fork = await audit();
    expect(fork.code).toBe(1);
    expect(fork.doc).toMatchObject({ fork: true });
    expect(existsSync(`${state}.fork.json`)).toBe(true);
  });

  it('monitor: the holder sees its own entries, and an entry it did not make is reported', async () => {
    type Monitor = { ok: boolean; findings: { verdict: string; kind: string }[] };
    // The monitor reads up to the latest signed checkpoint, made every second: a leaf committed a
    // moment ago may not be in it yet, so ask again (at most 10 s) until `count` findings show.
    const monitor = async (count: number) => {
      for (let i = 0; ; i++) {
        const r = await runJson<Monitor>(['log', 'monitor', '--devnet', dir, '--csi', '+1 415 555 0101']);
        if (r.doc.findings.length >= count || i === 20) return r;
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    const mine = await monitor(1);
    expect(mine.code).toBe(0);
    expect(mine.doc.findings.map((f) => f.verdict)).toEqual(['mine']);
    // Another holder (another key) claims Bob's number: a mapping and a contest Bob did not make.
    const other = await publish('+1 415 555 0101', 'mallory', [
      '--key',
      join(base, 'mallory.jwk'),
      '--tag',
      'work',
    ]);
    expect(other.code).toBe(0);
    const alarm = await monitor(3);
    expect(alarm.code).toBe(1);
    expect(alarm.doc.ok).toBe(false);
    expect(alarm.doc.findings.map((f) => f.verdict)).toEqual(['mine', 'not-mine', 'contest']);
  });
});
