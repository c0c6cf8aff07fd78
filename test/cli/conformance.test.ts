import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checks } from '../../src/cli/conformance.js';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { freePort } from '../support/devnet.js';
import { runCli, spawnCli, stopCli, waitForHealth } from './run-cli.js';

/**
 * The conformance kit against a devnet's dp1 (msp1 is placed there, and dp1 runs the verifier),
 * and against a DP that lies, behind a proxy that rewrites one answer.
 */
describe('mimi-discovery conformance', { timeout: 120_000 }, () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mimi-cli-conformance-')), 'net');
  let devnet: ReturnType<typeof spawnCli>;
  let dp1 = '';
  let proxy: Server;
  let proxyUrl = '';
  let lie: 'none' | 'metadata-key' | 'lookup-signature' = 'none';

  beforeAll(async () => {
    const port = await freePort(3);
    dp1 = `http://127.0.0.1:${port}`;
    devnet = spawnCli(['devnet', '--dir', dir, '--port', String(port), '--log-level', 'warn']);
    await waitForHealth(dp1);
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const upstream = await fetch(new URL(req.url ?? '/', dp1), {
        method: req.method,
        headers: {
          ...(req.headers['content-type'] === undefined
            ? {}
            : { 'content-type': req.headers['content-type'] }),
          ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }),
        },
        body: chunks.length === 0 ? undefined : Buffer.concat(chunks),
      });
      // Binary answers (private lookup buckets) pass byte for byte; only JSON is rewritten.
      let bytes: Buffer | string = Buffer.from(await upstream.arrayBuffer());
      if (lie === 'metadata-key' && req.url === '/.well-known/mimi-discovery') {
        const doc = JSON.parse(bytes.toString());
        doc.keys = [generateKeyPair().publicKey];
        bytes = JSON.stringify(doc);
      }
      if (lie === 'lookup-signature' && req.url === '/v1/lookup' && upstream.ok) {
        const doc = JSON.parse(bytes.toString());
        for (const r of doc.results ?? []) {
          for (const m of r.mappings ?? []) {
            const sig: string = m.mapping.holderSig;
            m.mapping.holderSig = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
          }
        }
        bytes = JSON.stringify(doc);
      }
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'etag', 'cache-control', 'retry-after']) {
        const v = upstream.headers.get(h);
        if (v !== null) headers[h] = v;
      }
      res.writeHead(upstream.status, headers).end(bytes);
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((ok) => proxy.close(ok));
    await stopCli(devnet, join(dir, '..'));
  });

  const args = (dp: string) => [
    'conformance',
    '--dp',
    dp,
    '--registry',
    join(dir, 'registry.json'),
    '--registry-key',
    join(dir, 'keys', 'registry.jwk'),
    '--msp-key',
    join(dir, 'keys', 'msp1.jwk'),
    '--otp-file',
    join(dir, 'outbox.jsonl'),
  ];
  const lastLine = (out: string) => out.trim().split('\n').at(-1);

  it('passes every check against dp1', async () => {
    const run = await runCli(args(dp1));
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(lastLine(run.stdout)).toMatch(/^\d+ passed, 0 failed$/);
    expect(lastLine(run.stdout)).toBe(`${checks.length} passed, 0 failed`);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('PASS ')).length).toBe(checks.length);
  });

  it('passes again on the same DP: every run has its own identifier', async () => {
    const run = await runCli(args(dp1));
    expect(run.code, run.stdout).toBe(0);
    expect(lastLine(run.stdout)).toBe(`${checks.length} passed, 0 failed`);
  });

  it('fails the metadata check when the DP publishes a key the registry does not give it', async () => {
    lie = 'metadata-key';
    const run = await runCli(args(proxyUrl));
    lie = 'none';
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL metadata is served and agrees with the registry: keys /m);
    expect(lastLine(run.stdout)).toBe(`${checks.length - 1} passed, 1 failed`);
  });

  it("fails the verbose lookup when the answer's mapping signature is changed", async () => {
    lie = 'lookup-signature';
    const run = await runCli(args(proxyUrl));
    lie = 'none';
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^FAIL verbose lookup verifies, with its inclusion proof: holder-signature-invalid/m,
    );
    expect(run.stdout).toMatch(/^PASS mapping published and countersigned$/m);
    expect(lastLine(run.stdout)).toMatch(/^\d+ passed, [1-9]\d* failed$/);
  });

  it('exits 2 on a usage error', async () => {
    const run = await runCli(['conformance', '--dp', dp1]);
    expect(run.code).toBe(2);
  });
});
