import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDevnet } from '../../src/cli/devnet-files.js';
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
    // The devnet as the command makes it, its DPs signing a checkpoint every 50 ms instead of
    // every second: the next command then finds one covering what the last one published.
    const layout = writeDevnet(dir, { port, dps: 3, issuers: { port: port + 20 } });
    for (const dp of layout.dps) {
      const config = JSON.parse(readFileSync(dp.configFile, 'utf8'));
      writeFileSync(
        dp.configFile,
        JSON.stringify({ ...config, log: { ...config.log, checkpointIntervalMs: 50 } }),
      );
    }
    devnet = spawnCli(['devnet', '--dir', dir, '--log-level', 'warn']);
    // Three DPs, their relay and issuers start in turn: on a busy machine that takes a while.
    await waitForHealth(`http://127.0.0.1:${port}`, 60_000);
    expect((await publish('+1 415 555 0101', 'bob')).code).toBe(0);
  }, 120_000);
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
    // A checkpoint covering Carol's leaves is due within 50 ms; should this audit still come first,
    // the next one sees it. An audit that sees no growth leaves the saved size as it was.
    let second = await audit('--recompute');
    for (let i = 0; second.code === 0 && second.doc.size <= first.doc.size && i < 5; i++) {
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
    // The monitor reads up to the latest signed checkpoint, made every 50 ms: should a leaf
    // committed a moment ago not be in it yet, the next run finds it.
    const monitor = async (count: number) => {
      for (let i = 0; ; i++) {
        const r = await runJson<Monitor>(['log', 'monitor', '--devnet', dir, '--csi', '+1 415 555 0101']);
        if (r.doc.findings.length >= count || i === 5) return r;
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
