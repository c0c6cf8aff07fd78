import { describe, expect, it } from 'vitest';
import { isMimiError } from '../../src/protocol/errors.js';
import { connectRedis, RedisRateLimiter, SizedBudget } from '../../src/store/rate-limit.js';
import { testRedis } from '../support/redis.js';

const redisUrl = process.env.MIMI_TEST_REDIS_URL || undefined;
if (redisUrl === undefined)
  console.warn(
    'Redis rate-limit tests SKIPPED: MIMI_TEST_REDIS_URL is not set and nothing answers at 127.0.0.1:6379',
  );

const budget = { points: 5, perSeconds: 60 };

async function refusal(p: Promise<void>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe.skipIf(redisUrl === undefined)('R22 across nodes: rate limits counted in Redis', () => {
  const { prefix, connect } = testRedis(redisUrl!);

  /** One limiter per "node", each with its own Redis connection. */
  async function nodes(n: number, keyPrefix = `${prefix}:caller`): Promise<RedisRateLimiter[]> {
    const out: RedisRateLimiter[] = [];
    for (let i = 0; i < n; i++) {
      out.push(new RedisRateLimiter(await connect(), budget, keyPrefix));
    }
    return out;
  }

  it('two nodes grant one budget between them, not one each', async () => {
    const [a, b] = await nodes(2);
    await a!.consume('msp:msp1', 2);
    await b!.consume('msp:msp1');
    await a!.consume('msp:msp1');
    await b!.consume('msp:msp1');
    for (const node of [a!, b!]) {
      const err = await refusal(node.consume('msp:msp1'));
      expect(isMimiError(err, 'rate-limited')).toBe(true);
      expect((err as { extra: { retryAfter: number } }).extra.retryAfter).toBeGreaterThan(0);
    }
  });

  it('keys and budgets are counted apart', async () => {
    const [a, b] = await nodes(2);
    const [other] = await nodes(1, `${prefix}:peer`);
    await a!.consume('msp:msp1', 5);
    await b!.consume('msp:msp2', 5);
    await other!.consume('msp:msp1', 5);
    expect(isMimiError(await refusal(b!.consume('msp:msp1')), 'rate-limited')).toBe(true);
  });

  it('a sized budget (an MSP lookup tier) is one count across nodes, whatever size each charge gives', async () => {
    const shared = async () => ({ shared: { redis: await connect(), keyPrefix: prefix } });
    const [a, b] = [
      new SizedBudget(await shared(), 'msp-lookup-day', 86_400),
      new SizedBudget(await shared(), 'msp-lookup-day', 86_400),
    ];
    await a.charge('msp1', 6, 10);
    await b.charge('msp1', 4, 10);
    expect(isMimiError(await refusal(a.charge('msp1', 1, 10)), 'rate-limited')).toBe(true);
    // A refused charge costs nothing; a larger size (a new registry tier) lets the same count go on.
    await b.charge('msp1', 5, 15);
    expect(isMimiError(await refusal(a.charge('msp1', 1, 15)), 'rate-limited')).toBe(true);
  });

  it('a cost larger than the budget is refused at once', async () => {
    const [a] = await nodes(1);
    expect(isMimiError(await refusal(a!.consume('msp:big', 6)), 'rate-limited')).toBe(true);
  });
});

describe('Redis rate limits when Redis is unreachable', () => {
  it('each node falls back to its own in-memory count of the same budget', async () => {
    const client = await connectRedis('redis://127.0.0.1:1', 300);
    try {
      expect(client.status).not.toBe('ready');
      const limiter = new RedisRateLimiter(client, budget, 'mimi-test-down');
      await limiter.consume('k', 5);
      expect(isMimiError(await refusal(limiter.consume('k')), 'rate-limited')).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});
