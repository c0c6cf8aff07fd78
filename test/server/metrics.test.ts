import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDevnet, readJwkFile, writeDevnet } from '../../src/cli/devnet-files.js';
import { HolderClient } from '../../src/client/holder.js';
import { MspAgent } from '../../src/client/msp-agent.js';
import { Registry } from '../../src/registry/document.js';
import { buildApp, buildOperationsApp, listen, listenOperations } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { type Context, createContext } from '../../src/server/context.js';
import { signAttestation } from '../../src/verifier/attestation.js';
import { freePort, startDevnet } from '../support/devnet.js';

/** One sample's value from the exposition text, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const got = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[2]);
  }
  return undefined;
}

/**
 * Issue 6 §5: Prometheus metrics on the operations listener. dp1 runs in this process; dp2 is in
 * the registry but not running, so federated lookups fail towards it, its breaker opens and the
 * events for it wait in the outbox.
 */
describe('metrics at /metrics on the operations listener', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-metrics-'));
  let ctx: Context;
  let app: FastifyInstance;
  let ops: FastifyInstance;
  let opsUrl: string;
  let msp: MspAgent;
  let endpoint: string;
  const bob = 'tel:+14155550123';
  const carol = 'mailto:carol@example.org';

  beforeAll(async () => {
    const port = await freePort(2);
    writeDevnet(dir, { port, dps: 2 });
    const layout = readDevnet(dir);
    endpoint = layout.endpoint;
    const opsPort = await freePort();
    ctx = await createContext(loadConfig(layout.configFile), {
      config: (c) => {
        c.operations = { listen: { port: opsPort } };
        c.limits = { ...c.limits, anonymousPerMinute: 3 };
        c.federation = { ...c.federation, breakerFailures: 2, peerTimeoutMs: 500 };
      },
    });
    app = buildApp(ctx);
    await listen(app, ctx);
    ops = buildOperationsApp(ctx);
    opsUrl = (await listenOperations(ops, ctx))!;
    const registry = Registry.open(
      JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')),
      layout.registryKey,
      {
        now: Math.floor(Date.now() / 1000),
      },
    );
    msp = new MspAgent({
      id: 'msp1',
      key: readJwkFile(layout.msps[0]!.keyFile),
      dp: { baseUrl: layout.endpoint, id: 'dp1' },
      registry: () => registry,
      isOwnUser: () => true,
    });
    const holder = new HolderClient({ dp: { baseUrl: layout.endpoint } });
    const attestation = signAttestation(
      {
        csi: bob,
        holderKey: holder.publicKey,
        method: 'sms-otp',
        issuer: 'verifier1',
        issuedAt: Math.floor(Date.now() / 1000),
        lifetimeSeconds: 86_400,
      },
      readJwkFile(join(dir, 'keys', 'verifier1.jwk')).privateKey,
    );
    await msp.submit(
      await msp.confirm(
        holder.signMapping({ csi: bob, msp: 'msp1', ssi: 'mimi://chat.example/u/bob', attestation }),
      ),
    );
  });
  afterAll(async () => {
    await app?.close();
    await ops?.close();
    await ctx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scrape = async () => {
    const res = await fetch(new URL('/metrics', opsUrl));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return res.text();
  };

  it('counts requests, latencies, rejects, rate limits, store timings, peers, outbox and the process', async () => {
    for (let i = 0; i < 3; i++) await msp.lookup([bob, carol]);
    for (let i = 0; i < 2; i++) await msp.lookupCompact([bob, carol]);
    const refused = await fetch(new URL('/v1/lookup', endpoint), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await msp.sessionToken()}` },
      body: JSON.stringify({ v: 1, csis: ['tel:+1415555'] }),
    });
    expect(((await refused.json()) as { code: string }).code).toBe('invalid-phone');
    expect((await fetch(new URL(`/v1/nothing/${bob}`, endpoint))).status).toBe(404);
    // The anonymous budget is 3 a minute per address: the fourth holder request is refused.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(new URL('/v1/holder/invalidate', endpoint), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([400, 400, 400, 429]);
    // A batch answered 200 with one rejected item: the item counts as a rejected submission would.
    const batch = await fetch(new URL('/v1/mappings/batch', endpoint), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await msp.sessionToken()}` },
      body: JSON.stringify({ v: 1, submissions: [{ v: 1 }] }),
    });
    expect(batch.status).toBe(200);
    expect(((await batch.json()) as { rejected: number }).rejected).toBe(1);

    const text = await scrape();
    expect(
      sample(text, 'mimi_http_requests_total', { route: '/v1/lookup', method: 'POST', status: '200' }),
    ).toBe(5);
    expect(
      sample(text, 'mimi_http_requests_total', { route: '/v1/mappings', method: 'POST', status: '201' }),
    ).toBe(1);
    expect(
      sample(text, 'mimi_http_requests_total', { route: '(no route)', method: 'GET', status: '404' }),
    ).toBe(1);
    expect(
      sample(text, 'mimi_http_request_duration_seconds_count', { route: '/v1/lookup', method: 'POST' }),
    ).toBeGreaterThanOrEqual(6);
    expect(sample(text, 'mimi_rejects_total', { code: 'invalid-phone' })).toBe(1);
    expect(sample(text, 'mimi_rejects_total', { code: 'not-found' })).toBe(1);
    expect(sample(text, 'mimi_rejects_total', { code: 'rate-limited' })).toBe(1);
    expect(sample(text, 'mimi_rejects_total', { code: 'record-invalid' })).toBe(4); // 3 holder bodies, 1 batch item
    expect(sample(text, 'mimi_rate_limited_total', { budget: 'anonymous' })).toBe(1);
    expect(sample(text, 'mimi_rate_limited_total', { budget: 'caller' })).toBeUndefined();
    expect(
      sample(text, 'mimi_store_operation_duration_seconds_count', { operation: 'write', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'mimi_store_operation_duration_seconds_count', {
        operation: 'servedMappings',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(3);
    // The two compact lookups of the same two CSIs: read once, then answered from the cache.
    expect(sample(text, 'mimi_served_cache_csis_total', { outcome: 'miss' })).toBe(2);
    expect(sample(text, 'mimi_served_cache_csis_total', { outcome: 'hit' })).toBe(2);
    expect(sample(text, 'mimi_cache_bytes', { cache: 'served' })).toBeGreaterThan(0);
    // dp2 is down: the fan-outs to it failed and its breaker opened after two failures.
    const failed = ['unavailable', 'error'].map(
      (o) => sample(text, 'mimi_peer_calls_total', { peer: 'dp2', outcome: o }) ?? 0,
    );
    expect(failed[0]! + failed[1]!).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'mimi_peer_calls_total', { peer: 'dp2', outcome: 'ok' })).toBeUndefined();
    expect(sample(text, 'mimi_peer_circuit_state', { peer: 'dp2', state: 'open' })).toBe(1);
    expect(sample(text, 'mimi_peer_circuit_state', { peer: 'dp2', state: 'closed' })).toBe(0);
    // The accepted mapping's federation event waits for dp2.
    expect(sample(text, 'mimi_outbox_depth', { target: 'dp2' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'mimi_ready')).toBe(1);
    // Process metrics, on this node's own registry.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // No label carries a CSI, its digits, a caller id or an address; MSPs (registry participants)
    // label only their own lookup reputation (R22).
    const reputation = text.split('\n').filter((l) => l.startsWith('mimi_msp_lookup_'));
    expect(sample(text, 'mimi_msp_lookup_slowed', { msp: 'msp1' })).toBe(0);
    const others = text
      .split('\n')
      .filter((l) => !reputation.includes(l))
      .join('\n');
    for (const s of [bob, carol, '14155550123', '4155550123', 'carol@', '127.0.0.1']) {
      expect(text).not.toContain(s);
    }
    expect(others).not.toContain('msp1');
  });

  it('exports the roles this node leads', async () => {
    const roles = ctx.leadership.roles();
    expect(Object.keys(roles).length).toBeGreaterThan(0);
    const text = await scrape();
    for (const [role, held] of Object.entries(roles)) {
      expect(sample(text, 'mimi_leader', { role })).toBe(held ? 1 : 0);
    }
  });

  it('keeps each node in its own registry: two nodes in one process count apart', async () => {
    const other = await startDevnet();
    try {
      const before = await ctx.metrics.render();
      const agent = other.msp('msp1');
      await agent.lookup([bob]);
      const mine = (await ctx.metrics.render()).body;
      const theirs = (await other.ctx.metrics.render()).body;
      expect(
        sample(theirs, 'mimi_http_requests_total', { route: '/v1/lookup', method: 'POST', status: '200' }),
      ).toBe(1);
      expect(
        sample(mine, 'mimi_http_requests_total', { route: '/v1/lookup', method: 'POST', status: '200' }),
      ).toBe(
        sample(before.body, 'mimi_http_requests_total', {
          route: '/v1/lookup',
          method: 'POST',
          status: '200',
        }),
      );
      // The main port does not serve /metrics: it is on the operations listener only.
      expect((await fetch(new URL('/metrics', other.url))).status).toBe(404);
    } finally {
      await other.close();
    }
  });
});
