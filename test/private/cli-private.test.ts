import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runJson, spawnCli, stopCli, waitForHealth } from '../cli/run-cli.js';
import { freePort } from '../support/devnet.js';

/** `lookup --private` (R9): the same verified answer as the plain lookup; the DP saw bucket ids only. */
describe('mimi-discovery lookup --private', { timeout: 120_000 }, () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mimi-cli-private-')), 'net');
  let devnet: ReturnType<typeof spawnCli>;
  let relay: string;

  beforeAll(async () => {
    const port = await freePort(4); // the devnet's three DPs and its relay
    devnet = spawnCli(['devnet', '--dir', dir, '--port', String(port), '--log-level', 'warn']);
    await waitForHealth(`http://127.0.0.1:${port}`);
    relay = `http://127.0.0.1:${port + 3}`;
    await waitForHealth(relay);
    const pub = await runCli([
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
    expect(pub.code, `holder publish failed: ${pub.stderr}`).toBe(0);
  });
  afterAll(async () => {
    await stopCli(devnet, join(dir, '..'));
  });

  it('answers as the plain lookup does and says what the DP saw', async () => {
    const args = ['lookup', '--devnet', dir, '--as', 'msp3', '+1 415 555 0101', '+1 415 555 0199'];
    // The plain answer to compare with comes from dp1, which holds Bob's mapping. Asked as msp3 it
    // would come from dp3 through a federated call to dp1 with the devnet's 1 s peer timeout, and on
    // a loaded machine a peer that misses it is left out of the answer: "none", not the private
    // path's fault. The private lookup asks every DP itself, as msp3.
    const plain = await runJson<{ results: unknown[] }>([
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp1',
      '+1 415 555 0101',
      '+1 415 555 0199',
    ]);
    expect(plain.code).toBe(0);
    expect((plain.doc.results[0] as { status: string }).status).toBe('one');
    const priv = await runJson<{ results: unknown[]; private: { evaluated: number; bucketIds: string[] } }>([
      ...args,
      '--private',
    ]);
    expect(priv.code).toBe(0);
    expect(priv.doc.results).toEqual(plain.doc.results);
    expect(priv.doc.private.evaluated).toBe(6); // two CSIs at each of the three DPs
    const text = await runCli([...args, '--private']);
    expect(text.stdout).toContain('tel:+14155550101  one');
    expect(text.stdout).toMatch(/the DPs saw buckets dp\d:\d+\/\d+/);
    const bad = await runCli([...args, '--private', '--compact']);
    expect(bad.code).not.toBe(0);
  });

  it('R9, R26: --relay gives the same answer through the devnet relay and each DP gateway', async () => {
    const args = [
      'lookup',
      '--devnet',
      dir,
      '--as',
      'msp3',
      '+1 415 555 0101',
      '+1 415 555 0199',
      '--private',
    ];
    const direct = await runJson<{ results: unknown[] }>(args);
    const through = await runJson<{ results: unknown[]; private: { relay: string; evaluated: number } }>([
      ...args,
      '--relay',
      relay,
    ]);
    expect(through.code, through.stderr).toBe(0);
    expect(through.doc.results).toEqual(direct.doc.results);
    expect(through.doc.private.relay).toBe(relay);
    const text = await runCli([...args, '--relay', relay]);
    expect(text.stdout).toContain('through the relay');
    // --relay without --private, and a relay that is no URL, are refused.
    const noPrivate = await runJson<{ error: { code: string } }>(
      args.filter((a) => a !== '--private').concat('--relay', relay),
    );
    expect(noPrivate.code).not.toBe(0);
    const notUrl = await runCli([...args, '--relay', 'relay.example']);
    expect(notUrl.code).not.toBe(0);
  });

  it('--tokens: pays with Privacy Pass tokens from the MSP issuer the devnet runs, with the same answer (R26)', async () => {
    const csis = ['+1 415 555 0101', '+1 415 555 0199'];
    const plain = await runJson<{ results: unknown[] }>(['lookup', '--devnet', dir, '--as', 'msp1', ...csis]);
    const paid = await runJson<{
      results: unknown[];
      private: { evaluated: number; paidWith: string; msp: string };
    }>(['lookup', '--devnet', dir, '--private', '--tokens', 'msp3:alice', ...csis]);
    expect(paid.code).toBe(0);
    expect(paid.doc.results).toEqual(plain.doc.results);
    expect(paid.doc.private).toMatchObject({ evaluated: 6, paidWith: 'privacy-pass', msp: 'msp3' });
    const text = await runCli(['lookup', '--devnet', dir, '--private', '--tokens', 'msp2:bob', ...csis]);
    expect(text.stdout).toContain('the DPs learned only that the asker is a user of msp2');
    // Usage: a user the issuer does not know, a malformed value, --tokens without --private.
    const unknown = await runJson<{ code: string }>([
      'lookup',
      '--devnet',
      dir,
      '--private',
      '--tokens',
      'msp3:mallory',
      csis[0]!,
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.doc.code).toBe('invalid-argument');
    expect(
      (await runCli(['lookup', '--devnet', dir, '--private', '--tokens', 'msp3', csis[0]!])).code,
    ).not.toBe(0);
    expect((await runCli(['lookup', '--devnet', dir, '--tokens', 'msp3:alice', csis[0]!])).code).not.toBe(0);
  });

  it('R9, R26: --relay with --tokens: through the devnet relay, paid with tokens, the same answer', async () => {
    const csis = ['+1 415 555 0101', '+1 415 555 0199'];
    const plain = await runJson<{ results: unknown[] }>(['lookup', '--devnet', dir, '--as', 'msp1', ...csis]);
    const args = [
      'lookup',
      '--devnet',
      dir,
      '--private',
      '--relay',
      relay,
      '--tokens',
      'msp3:carol',
      ...csis,
    ];
    const full = await runJson<{
      results: unknown[];
      private: { evaluated: number; paidWith: string; msp: string; relay: string };
    }>(args);
    expect(full.code, full.stderr).toBe(0);
    expect(full.doc.results).toEqual(plain.doc.results);
    expect(full.doc.private).toMatchObject({ evaluated: 6, paidWith: 'privacy-pass', msp: 'msp3', relay });
    const text = await runCli(args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('the DPs learned only that the asker is a user of msp3');
    expect(text.stdout).toContain(`through the relay ${relay}`);
  });
});
