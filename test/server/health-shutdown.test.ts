import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import type { MimiError } from '../../src/protocol/errors.js';
import { Registry } from '../../src/registry/document.js';
import { loadConfig, type NodeConfig } from '../../src/server/config.js';
import { spawnCli } from '../cli/run-cli.js';
import { freePort, startDevnet } from '../support/devnet.js';

/**
 * A peer DP that holds every federated lookup until released: requests to the node under test
 * that fan out to it stay in flight for as long as the test wants, with no timing involved.
 */
class HeldPeer {
  readonly held: ServerResponse[] = [];
  private readonly server: Server;
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      this.held.push(res);
      for (const w of this.waiters) w();
    });
  }

  listen(port: number): Promise<void> {
    return new Promise((r) => this.server.listen(port, '127.0.0.1', () => r()));
  }

  async waitFor(n: number): Promise<void> {
    while (this.held.length < n) await new Promise<void>((r) => this.waiters.push(r));
    this.waiters = [];
  }

  /** Answers every held request: the peer is overloaded (its answer is reported, not fatal). */
  release(): void {
    for (const res of this.held.splice(0)) {
      res.writeHead(503, { 'content-type': 'application/problem+json' });
      res.end('{"type":"about:blank","title":"x","status":503,"detail":"busy","code":"unreachable"}');
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A devnet folder whose registry names `peer` (the held peer) as a second DP. */
async function setUp(dir: string, peerPort: number, edit: (c: NodeConfig) => void) {
  const port = await freePort();
  writeDevnet(dir, {
    port,
    extraDps: [{ id: 'dp9', endpoint: `http://127.0.0.1:${peerPort}`, keys: {} }],
  });
  const layout = readDevnet(dir);
  const config = JSON.parse(readFileSync(layout.configFile, 'utf8')) as NodeConfig;
  config.federation = { ...config.federation, peerTimeoutMs: 30_000 };
  config.operations = { listen: { port: await freePort() } };
  edit(config);
  writeFileSync(layout.configFile, JSON.stringify(config));
  const registry = Registry.open(
    JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
    layout.registryKey,
    {
      now: Math.floor(Date.now() / 1000),
    },
  );
  const msp = new MspAgent({
    id: 'msp1',
    key: readJwkFile(layout.msps[0]!.keyFile),
    dp: { baseUrl: layout.endpoint, id: 'dp1' },
    registry: () => registry,
    isOwnUser: () => true,
  });
  return { layout, msp };
}

/** `serve --json` in its own process, once listening; its URLs from the JSON document on stdout. */
async function serve(configFile: string) {
  const run = spawnCli(['serve', '--config', configFile, '--json', '--log-level', 'warn']);
  let doc: { listening: string; operations: string } | undefined;
  await run.until(
    () => {
      try {
        doc = JSON.parse(run.stdout());
        return true;
      } catch {
        return false; // not complete yet
      }
    },
    'the listening document',
    60_000,
  );
  return { ...run, url: doc!.listening, operations: doc!.operations };
}

/** A federated lookup asking dp9, the held peer. */
function federatedLookup(url: string, token: string, csis: string[]) {
  return fetch(new URL('/v1/lookup', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ v: 1, csis, federation: true, dpList: ['dp9'] }),
  });
}

async function readyz(base: string): Promise<{ status: number; body: { code?: string; checks?: unknown } }> {
  const res = await fetch(new URL('/readyz', base));
  return { status: res.status, body: (await res.json()) as { code?: string } };
}

describe('graceful shutdown of a serve process', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('on SIGTERM: readiness 503, no new connections, every request in flight answered in full, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mimi-drain-'));
    dirs.push(dir);
    const peer = new HeldPeer();
    const peerPort = await freePort();
    await peer.listen(peerPort);
    const { layout, msp } = await setUp(dir, peerPort, () => undefined);
    const node = await serve(layout.configFile);
    try {
      expect(await readyz(node.operations)).toMatchObject({ status: 200, body: { ready: true } });
      expect((await readyz(node.url)).status).toBe(200);
      const token = await msp.sessionToken();
      const batches = [
        ['tel:+14155550101'],
        ['tel:+14155550102', 'mailto:a@example.org'],
        ['tel:+14155550103'],
        ['tel:+14155550104', 'tel:+14155550105', 'tel:+14155550106'],
        ['mailto:b@example.org'],
      ];
      const inFlight = batches.map((csis) => federatedLookup(node.url, token, csis));
      // Every lookup has reached the node and waits on the peer: they are in flight.
      await peer.waitFor(batches.length);

      node.child.kill('SIGTERM');
      // Readiness turns first (the operations listener stays up until the end).
      let ready = await readyz(node.operations);
      while (ready.status === 200) ready = await readyz(node.operations);
      expect(ready).toMatchObject({ status: 503, body: { code: 'shutting-down' } });
      // New requests are not taken: the connection is refused, or answered 503 on an open one.
      const late = await fetch(new URL('/.well-known/mimi-discovery', node.url), {
        headers: { connection: 'close' },
      }).then(
        (r) => r.status,
        () => 'refused',
      );
      expect([503, 'refused']).toContain(late);
      expect(node.child.exitCode).toBeNull();

      peer.release();
      const answers = await Promise.all(inFlight);
      for (const [i, res] of answers.entries()) {
        expect(res.status).toBe(200);
        const body = (await res.json()) as {
          results: { csi: string }[];
          peers: { dp: string; status: string }[];
        };
        expect(body.results.map((r) => r.csi)).toEqual(batches[i]);
        expect(body.peers.map((p) => p.dp)).toEqual(['dp9']);
      }
      expect(await node.exited).toBe(0);
    } finally {
      node.child.kill('SIGKILL');
      await peer.close();
    }
  });

  it('after operations.shutdownTimeoutMs the connections still open are closed, and it exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mimi-drain-'));
    dirs.push(dir);
    const peer = new HeldPeer();
    const peerPort = await freePort();
    await peer.listen(peerPort);
    const { layout, msp } = await setUp(dir, peerPort, (c) => {
      c.operations = { ...c.operations, shutdownTimeoutMs: 200 };
    });
    const node = await serve(layout.configFile);
    try {
      const token = await msp.sessionToken();
      const stuck = federatedLookup(node.url, token, ['tel:+14155550101']).then(
        (r) => r.status,
        () => 'cut',
      );
      await peer.waitFor(1);
      node.child.kill('SIGTERM');
      // The peer never answers: the drain deadline cuts the request, and the node still exits cleanly.
      expect(await node.exited).toBe(0);
      expect(await stuck).toBe('cut');
    } finally {
      node.child.kill('SIGKILL');
      await peer.close();
    }
  });
});

describe('readiness', () => {
  it('503 registry-expired once the registry has expired; /healthz stays 200', async () => {
    const net = await startDevnet();
    try {
      expect(await readyz(net.url)).toMatchObject({
        status: 200,
        body: { ready: true, checks: { store: 'ok', registry: 'ok', shutdown: 'ok' } },
      });
      net.clock.advance(366 * 86_400);
      const r = await readyz(net.url);
      expect(r).toMatchObject({
        status: 503,
        body: { code: 'registry-expired', checks: { store: 'ok', registry: 'registry-expired' } },
      });
      expect((await fetch(new URL('/healthz', net.url))).status).toBe(200);
      net.ctx.lifecycle.draining = true;
      expect((await readyz(net.url)).body.code).toBe('shutting-down');
    } finally {
      await net.close();
    }
  });
});

describe('operations settings from the file and the environment', () => {
  it('MIMI_OPERATIONS_HOST, MIMI_OPERATIONS_PORT and MIMI_SHUTDOWN_TIMEOUT_MS override the file; bad values name the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mimi-opsenv-'));
    try {
      writeDevnet(dir, { port: await freePort() });
      const file = readDevnet(dir).configFile;
      expect(loadConfig(file, {}).config.operations).toBeUndefined();
      const env = {
        MIMI_OPERATIONS_HOST: '10.0.0.5',
        MIMI_OPERATIONS_PORT: '9464',
        MIMI_SHUTDOWN_TIMEOUT_MS: '5000',
      };
      expect(loadConfig(file, env).config.operations).toEqual({
        listen: { host: '10.0.0.5', port: 9464 },
        shutdownTimeoutMs: 5000,
      });
      // Each refused, naming the setting the variable sets.
      const settingOf = (env: Record<string, string>) => {
        try {
          loadConfig(file, env);
        } catch (err) {
          expect((err as MimiError).code).toBe('config-invalid');
          return (err as MimiError).extra?.setting;
        }
        return undefined;
      };
      expect(settingOf({ MIMI_OPERATIONS_HOST: '0.0.0.0' })).toBe('operations.listen.port');
      expect(settingOf({ MIMI_OPERATIONS_PORT: 'x' })).toBe('operations.listen.port');
      expect(settingOf({ MIMI_SHUTDOWN_TIMEOUT_MS: '-1' })).toBe('operations.shutdownTimeoutMs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('behind a TLS-terminating proxy', () => {
  it('R22: with listen.trustProxy, per-address limits count the client from X-Forwarded-For', async () => {
    const net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.listen.trustProxy = ['127.0.0.1'];
          c.limits = { ...c.limits, anonymousPerMinute: 1 };
        },
      },
    );
    try {
      const from = (client: string) =>
        fetch(new URL('/v1/holder/invalidate', net.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
          body: '{}',
        }).then((r) => r.status);
      // Two clients behind the one proxy address each have their own budget of one.
      expect(await from('198.51.100.7')).toBe(400);
      expect(await from('203.0.113.9')).toBe(400);
      expect(await from('198.51.100.7')).toBe(429);
    } finally {
      await net.close();
    }
  });
});
