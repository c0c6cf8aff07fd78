import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig, type NodeConfig } from '../../src/server/config.js';
import { type Context, createContext } from '../../src/server/context.js';
import { freePort, type RunningDevnet, startDevnet } from '../support/devnet.js';
import { dropSchema, postgresAvailable, postgresUrl, testSchema } from '../support/stores.js';

/**
 * R22, R26 across nodes (issue 14): two nodes of dp1 share PostgreSQL and Redis. A token spent at
 * one is refused at the other (Redis first), and still refused once Redis forgot it (the store).
 */
const redisUrl = process.env.MIMI_TEST_REDIS_URL || undefined;
const available = postgresAvailable() && redisUrl !== undefined;
if (!available) console.warn('Privacy Pass cluster tests SKIPPED: PostgreSQL or Redis is not available');

describe.skipIf(!available)('a token spent at one node is spent at every node of the DP', () => {
  const schema = testSchema();
  const prefix = `mimi-test-pp-${schema}`;
  let net: RunningDevnet;
  let b: { ctx: Context; close(): Promise<void>; url: string };
  const shared = (c: NodeConfig) => {
    c.store = { backend: 'postgres', url: postgresUrl!, schema, poolSize: 4 };
    c.rateLimits = { redisUrl: redisUrl!, keyPrefix: prefix };
  };

  beforeAll(async () => {
    net = await startDevnet({}, { issuers: {}, configure: shared });
    const port = await freePort();
    const ctx = await createContext(loadConfig(net.layout.configFile), {
      clock: net.clock,
      config: (c) => {
        shared(c);
        c.listen = { ...c.listen, port };
      },
    });
    const app = buildApp(ctx);
    const url = await listen(app, ctx);
    b = {
      ctx,
      url,
      async close() {
        await app.close();
        await ctx.close();
      },
    };
  });
  afterAll(async () => {
    await b?.close();
    await net?.close();
    await dropSchema(postgresUrl!, schema);
    const redis = new Redis(redisUrl!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function evaluate(url: string, authorization: string): Promise<{ status: number; code?: string }> {
    const epochs = (await (await fetch(`${url}/v1/private/epochs`)).json()) as { current: number };
    const element = Buffer.from('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76', 'hex');
    const res = await fetch(`${url}/v1/private/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ v: 1, epoch: epochs.current, elements: [element.toString('base64url')] }),
    });
    const body = (await res.json()) as { code?: string };
    return { status: res.status, code: body.code };
  }

  it('refuses the second spend at the other node, through Redis and then through the store', async () => {
    const tokens = net.tokens('msp2', 'alice');
    await tokens.fetch(2);
    const first = await tokens.next();
    expect((await evaluate(net.url, first)).status).toBe(200);
    expect(await evaluate(b.url, first)).toEqual({ status: 401, code: 'token-spent' });
    // The Redis key expires with the token key (its notAfter), not before.
    const redis = new Redis(redisUrl!);
    try {
      const keys = await redis.keys(`${prefix}:spent-token:*`);
      expect(keys).toHaveLength(1);
      expect(await redis.pttl(keys[0]!)).toBeGreaterThan(300 * 86_400 * 1000);
      // Redis forgets (a restart keeps nothing): the store still refuses, at either node.
      await redis.del(...keys);
      expect(await evaluate(b.url, first)).toEqual({ status: 401, code: 'token-spent' });
    } finally {
      redis.disconnect();
    }
    // A fresh token is good at the other node.
    expect((await evaluate(b.url, await tokens.next())).status).toBe(200);
    const spent = (await b.ctx.metrics.registry.metrics()).match(
      /mimi_private_tokens_total\{outcome="token-spent"\} (\d+)/,
    );
    expect(Number(spent?.[1])).toBe(2);
  });
});
