import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createContext } from '../../src/server/context.js';
import { isLoopback } from '../../src/server/listen-address.js';
import { freePort, type RunningDevnet, startDevnet } from '../support/devnet.js';

describe('R11: published defaults and limits', () => {
  let net: RunningDevnet;
  beforeAll(async () => {
    net = await startDevnet();
  });
  afterAll(() => net.close());

  it('/.well-known/mimi-discovery states id, keys, federation default and limits', async () => {
    const res = await fetch(`${net.url}/.well-known/mimi-discovery`);
    const meta = (await res.json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      v: 1,
      id: 'dp1',
      federation: 'devnet',
      keysByUsage: {
        records: net.ctx.dpKeys.records.publicKey,
        transport: net.ctx.dpKeys.transport.publicKey,
        log: net.ctx.dpKeys.log.publicKey,
      },
      defaults: { federation: false, format: 'verbose' },
      limits: { maxBatch: 100, maxBodyBytes: 65536, maxSubmissionBatch: 500 },
      verifier: { id: 'verifier1', methods: ['sms-otp', 'email-otp'] },
    });
  });

  it('unknown routes answer problem+json with a code', async () => {
    const res = await fetch(`${net.url}/v1/nothing`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ code: 'not-found', status: 404 });
  });

  it('R22: anonymous callers are rate-limited per address, with Retry-After', async () => {
    let last: Response | undefined;
    for (let i = 0; i < 130; i++) {
      last = await fetch(`${net.url}/v1/holder/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      if (last.status === 429) break;
    }
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await last?.json()).toMatchObject({ code: 'rate-limited' });
  });
});

describe('R23: encrypted and authenticated transport', () => {
  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.8.0.1', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'dp.example'].some(isLoopback)).toBe(false);
  });

  it('refuses plain HTTP on a non-loopback address unless the config allows it', async () => {
    const net = await startDevnet();
    try {
      const file = net.layout.configFile;
      const config = JSON.parse(readFileSync(file, 'utf8'));
      writeFileSync(
        file,
        JSON.stringify({
          ...config,
          listen: { host: '0.0.0.0', port: 0 },
          store: { backend: 'sqlite', path: 'other.db' },
        }),
      );
      const ctx = await createContext(loadConfig(file));
      const app = buildApp(ctx);
      await expect(listen(app, ctx)).rejects.toMatchObject({ code: 'insecure-transport' });
      await app.close();
      await ctx.close();
    } finally {
      await net.close();
    }
  });

  let openssl = true;
  try {
    execFileSync('openssl', ['version']);
  } catch {
    openssl = false;
    console.warn('SKIPPED: the TLS test needs the openssl command to make a test certificate');
  }

  it.skipIf(!openssl)('serves HTTPS when a certificate is configured', async () => {
    const net = await startDevnet();
    try {
      const dir = net.layout.dir;
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-keyout',
          join(dir, 'tls.key'),
          '-out',
          join(dir, 'tls.crt'),
        ],
        { stdio: 'ignore' },
      );
      const config = JSON.parse(readFileSync(net.layout.configFile, 'utf8'));
      const port = await freePort();
      const file = join(dir, 'tls.config.json');
      writeFileSync(
        file,
        JSON.stringify({
          ...config,
          listen: { host: '127.0.0.1', port, tls: { certFile: 'tls.crt', keyFile: 'tls.key' } },
          store: { backend: 'sqlite', path: 'tls.db' },
        }),
      );
      const ctx = await createContext(loadConfig(file));
      const app = buildApp(ctx);
      await listen(app, ctx);
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/.well-known/mimi-discovery',
            ca: readFileSync(join(dir, 'tls.crt')),
            servername: 'localhost',
          },
          (res) => {
            let data = '';
            res.on('data', (c: Buffer) => {
              data += c.toString();
            });
            res.on('end', () => resolve(data));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toMatchObject({ id: 'dp1' });
      await app.close();
      await ctx.close();
    } finally {
      await net.close();
    }
  });
});
