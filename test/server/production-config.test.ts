import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MimiError } from '../../src/protocol/errors.js';
import { checkConfig, type NodeConfig } from '../../src/server/config.js';
import { connectRedis, RedisRateLimiter } from '../../src/store/rate-limit.js';
import { startDevnet } from '../support/devnet.js';
import { dropSchema, postgresAvailable, postgresUrl, testSchema } from '../support/stores.js';

const redisUrl = process.env.MIMI_TEST_REDIS_URL || undefined;
if (redisUrl === undefined)
  console.warn(
    'PostgreSQL + Redis node test SKIPPED: MIMI_TEST_REDIS_URL is not set and nothing answers at 127.0.0.1:6379',
  );
const withServices = postgresAvailable() && redisUrl !== undefined;

const base = {
  dp: { id: 'dp1', keyFile: 'dp1.jwk' },
  registry: { location: 'registry.json', pinnedKey: 'A'.repeat(43) },
  listen: { host: '127.0.0.1', port: 0 },
};
const configWith = (extra: Record<string, unknown>) => ({
  ...base,
  store: { backend: 'sqlite', path: 'x.db' },
  ...extra,
});

async function thrownBy(fn: () => unknown): Promise<Partial<MimiError>> {
  try {
    fn();
  } catch (err) {
    return err as MimiError;
  }
  return {};
}

describe('config: PostgreSQL store and Redis rate limits', () => {
  it('accepts a PostgreSQL store with pool size, schema and session settings, and a Redis URL', () => {
    const config = checkConfig(
      configWith({
        store: {
          backend: 'postgres',
          url: 'postgres://mimi@db.internal:5432/mimi',
          poolSize: 20,
          schema: 'mimi',
          settings: { statement_timeout: '10s', lock_timeout: '5s' },
        },
        rateLimits: { redisUrl: 'redis://cache.internal:6379/0', keyPrefix: 'mimi:dp1' },
      }),
    );
    expect(config.store).toMatchObject({ backend: 'postgres', poolSize: 20 });
    expect(config.rateLimits?.redisUrl).toBe('redis://cache.internal:6379/0');
  });

  it.each([
    [{ store: { backend: 'postgres' } }, 'store.url'],
    [{ store: { backend: 'postgres', url: 'mysql://x' } }, 'store.url'],
    [{ store: { backend: 'postgres', url: 'postgres://x/y', poolSize: 0 } }, 'store.poolSize'],
    [{ store: { backend: 'postgres', url: 'postgres://x/y', path: 'a.db' } }, 'store.path'],
    [{ store: { backend: 'postgres', url: 'postgres://x/y', schema: 'Bad-Name' } }, 'store.schema'],
    [{ store: { backend: 'postgres', url: 'postgres://x/y', settings: { a: 'x y' } } }, 'store.settings.a'],
    [
      { store: { backend: 'postgres', url: 'postgres://x/y', settings: { 'a b': 'x' } } },
      'store.settings.a b',
    ],
    [{ store: { backend: 'mysql', url: 'mysql://x' } }, 'store.backend'],
    [{ store: { backend: 'sqlite', url: 'postgres://x/y', path: 'a.db' } }, 'store.url'],
    [{ rateLimits: { redisUrl: 'http://cache' } }, 'rateLimits.redisUrl'],
  ])('refuses %j, naming %s', async (extra, setting) => {
    const err = await thrownBy(() => checkConfig(configWith(extra)));
    expect(err.code).toBe('config-invalid');
    expect(err.extra?.setting).toBe(setting);
  });
});

describe.skipIf(!withServices)('a node configured for PostgreSQL and Redis', () => {
  it('builds its store and limiters from the config, and serves', async () => {
    const schema = testSchema();
    const keyPrefix = `mimi-test-${randomBytes(6).toString('hex')}`;
    const net = await startDevnet(
      {},
      {
        configure: (c: NodeConfig) => {
          c.store = { backend: 'postgres', url: postgresUrl!, schema, poolSize: 4 };
          c.rateLimits = { redisUrl: redisUrl!, keyPrefix };
        },
      },
    );
    try {
      expect(net.ctx.store.backend).toBe('postgres');
      expect(net.ctx.callerLimiter).toBeInstanceOf(RedisRateLimiter);
      expect(net.ctx.anonymousLimiter).toBeInstanceOf(RedisRateLimiter);
      const holder = net.holder();
      const att = await net.prove(holder, '+1 415 555 0177');
      const msp1 = net.msp('msp1');
      const accepted = await msp1.submit(
        await msp1.confirm(
          holder.signMapping({
            csi: '+1 415 555 0177',
            msp: 'msp1',
            ssi: 'mimi://chat.example/u/pg',
            tag: 'Default',
            attestation: att,
          }),
        ),
      );
      expect(accepted.state).toBe('active');
      const [found] = await net.msp('msp2').lookup(['+1 415 555 0177']);
      expect(found?.mappings.map((m) => m.mapping.body.ssi)).toEqual(['mimi://chat.example/u/pg']);
    } finally {
      await net.close();
      await dropSchema(postgresUrl!, schema);
      const redis = await connectRedis(redisUrl!);
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
