import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoveryName } from '../../src/protocol/dns-names.js';
import {
  type DnsProcess,
  dig,
  freeDnsPort,
  missingDnsTools,
  startNsd,
  startUnbound,
} from '../support/dns-servers.js';
import { runCli, runJson, spawnCli, stopCli } from './run-cli.js';

/**
 * R29 from the command line: the demo leaves a devnet where mimi:alice@example.net is published;
 * `dns export` writes its zone for NSD, `dns serve` answers for it, and `lookup --dns` finds and
 * verifies alice through Unbound in front of either.
 */
const missing = missingDnsTools();
if (missing.length > 0)
  console.warn(`skipping the DNS CLI suite: missing ${missing.join(', ')} (.ci/run installs them)`);

describe.skipIf(missing.length > 0)('dns export, dns serve and lookup --dns', { timeout: 120_000 }, () => {
  const parent = mkdtempSync(join(tmpdir(), 'mimi-cli-dns-'));
  const dir = join(parent, 'net');
  const config = join(dir, 'dp1.config.json');
  let port: number;
  let serve: ReturnType<typeof spawnCli>;
  let nsd: DnsProcess | undefined;
  let unbound: DnsProcess | undefined;

  beforeAll(async () => {
    const demo = await runCli(['demo', '--dir', dir], { timeoutMs: 100_000 });
    expect(demo.code).toBe(0);
    port = await freeDnsPort();
    const c = JSON.parse(readFileSync(config, 'utf8'));
    c.dns = {
      listen: { host: '127.0.0.1', port },
      refreshMs: 200,
      zones: [
        {
          name: 'example.net',
          nameServers: [{ name: 'ns1.example.net', addresses: ['127.0.0.1'] }],
          ttl: 5,
          // No negative caching: the resolver asks again once the holder has published its record.
          negativeTtl: 0,
        },
      ],
    };
    writeFileSync(config, JSON.stringify(c, null, 2));
  }, 110_000);

  afterAll(async () => {
    await unbound?.stop();
    await nsd?.stop();
    if (serve !== undefined) await stopCli(serve, parent);
    rmSync(parent, { recursive: true, force: true });
  });

  it('dns export writes a master file that NSD loads and serves', async () => {
    const out = join(parent, 'example.net.zone');
    const run = await runCli(['dns', 'export', '--config', config, '--zone', 'example.net', '--out', out]);
    expect(run.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    const name = discoveryName('mimi:alice@example.net');
    expect(text).toContain(`${name}. 5 IN TYPE256`);
    expect(text).toContain(`${name}. 5 IN TXT "mimi1 {`);
    execFileSync('/usr/sbin/nsd-checkzone', ['example.net', out]);
    const nsdDir = mkdtempSync(join(parent, 'nsd-'));
    nsd = await startNsd(nsdDir, { 'example.net': out });
    expect(await dig(['@127.0.0.1', '-p', String(nsd.port), name, 'URI', '+short'])).toContain(
      '0 1 "mimi://chat.example/u/alice"',
    );
    const ubDir = mkdtempSync(join(parent, 'ub-'));
    unbound = await startUnbound(ubDir, { stubs: { 'example.net': `127.0.0.1@${nsd.port}` } });
    const found = await runJson<{ results: { status: string; dnssec: string; mappings: unknown[] }[] }>([
      'lookup',
      '--dns',
      '--devnet',
      dir,
      '--resolver',
      `127.0.0.1:${unbound.port}`,
      'mimi:Alice@example.net',
    ]);
    expect(found.code).toBe(0);
    expect(found.doc.results[0]).toMatchObject({ status: 'one', dnssec: 'insecure' });
  });

  it('dns serve answers authoritatively; lookup --dns verifies what it serves', async () => {
    serve = spawnCli(['dns', 'serve', '--config', config, '--json']);
    await serve.until(() => serve.output().includes('"listening"'), 'listening', 15_000);
    const name = discoveryName('mimi:alice@example.net');
    const answer = await dig(['@127.0.0.1', '-p', String(port), name, 'TXT', '+norec']);
    expect(answer).toMatch(/flags: qr aa/);
    const run = await runCli([
      'lookup',
      '--dns',
      '--devnet',
      dir,
      '--resolver',
      `127.0.0.1:${port}`,
      'mimi:alice@example.net',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('mimi:alice@example.net  one');
    expect(run.stdout).toContain('mimi://chat.example/u/alice');
    const none = await runJson<{ results: { status: string }[] }>([
      'lookup',
      '--dns',
      '--devnet',
      dir,
      '--resolver',
      `127.0.0.1:${port}`,
      'mimi:nobody@example.net',
    ]);
    expect(none.doc.results[0]?.status).toBe('none');
  });

  it('holder prove for a mimi: identifier: the record to publish, then the dns-01 check', async () => {
    // dp1 with a verifier whose dns-01 lookups go to Unbound, in front of NSD (first test).
    const c = JSON.parse(readFileSync(config, 'utf8'));
    c.verifier.dns01 = { servers: [`127.0.0.1:${unbound!.port}`], timeoutMs: 1500 };
    writeFileSync(config, JSON.stringify(c, null, 2));
    const node = spawnCli(['serve', '--config', config, '--json']);
    try {
      await node.until(() => node.output().includes('"listening"'), 'listening');
      const csi = 'mimi:zed@example.net';
      const first = await runJson<{ code: string; name: string; value: string; challengeId: string }>([
        'holder',
        'prove',
        '--devnet',
        dir,
        '--csi',
        csi,
      ]);
      expect(first.code).toBe(1);
      expect(first.doc).toMatchObject({ code: 'dns-challenge-failed', name: '_mimi-challenge.example.net' });
      // Checked before the record exists: an attempt spent, nothing attested.
      const early = await runCli([
        'holder',
        'prove',
        '--devnet',
        dir,
        '--csi',
        csi,
        '--challenge',
        first.doc.challengeId,
      ]);
      expect(early.stderr).toMatch(/^error \[dns-challenge-failed\]/);
      // The holder publishes the record in its zone (NSD, reloaded on the same port).
      const zoneFile = join(parent, 'example.net.zone');
      writeFileSync(
        zoneFile,
        `${readFileSync(zoneFile, 'utf8')}_mimi-challenge.example.net. 1 IN TXT "${first.doc.value}"\n`,
      );
      const nsdPort = nsd!.port;
      await nsd!.stop();
      nsd = await startNsd(mkdtempSync(join(parent, 'nsd2-')), { 'example.net': zoneFile }, nsdPort);
      const proved = await runJson<{ attestation: { method: string; csi: string } }>([
        'holder',
        'prove',
        '--devnet',
        dir,
        '--csi',
        csi,
        '--challenge',
        first.doc.challengeId,
      ]);
      expect(proved.stdout).toContain('"attestation"');
      expect(proved.code).toBe(0);
      expect(proved.doc.attestation).toMatchObject({ method: 'dns-01', csi });
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  it('refuses what DNS cannot answer, with typed errors', async () => {
    const other = await runCli(['lookup', '--dns', '--devnet', dir, '+14155550101']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error \[invalid-argument\]/);
    const dead = await freeDnsPort();
    const gone = await runCli([
      'lookup',
      '--dns',
      '--devnet',
      dir,
      '--resolver',
      `127.0.0.1:${dead}`,
      'mimi:alice@example.net',
    ]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error \[dns-unreachable\]/);
    const zone = await runCli(['dns', 'export', '--config', config, '--zone', 'example.org']);
    expect(zone.stderr).toMatch(/^error \[invalid-argument\]/);
  });
});
