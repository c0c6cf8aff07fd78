import { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { MimiError } from '../protocol/errors.js';

/** The rate-limit seam: in memory for one node; Redis for many nodes sharing one budget. */
export interface RateLimiter {
  /** Spend `cost` points of `key`'s budget or throw `rate-limited` with a retry hint. */
  consume(key: string, cost?: number): Promise<void>;
}

export interface Budget {
  points: number;
  perSeconds: number;
}

async function consumeOrThrow(limiter: RateLimiterAbstract, key: string, cost: number): Promise<void> {
  try {
    await limiter.consume(key, cost);
  } catch (res) {
    if (res instanceof RateLimiterRes) {
      throw new MimiError('rate-limited', 'rate limit reached; slow down', {
        retryAfter: Math.ceil(res.msBeforeNext / 1000),
      });
    }
    throw res;
  }
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(budget: Budget) {
    this.limiter = new RateLimiterMemory({ points: budget.points, duration: budget.perSeconds });
  }

  consume(key: string, cost = 1): Promise<void> {
    return consumeOrThrow(this.limiter, key, cost);
  }
}

/**
 * R22 across nodes: every node of a DP counts in the same Redis keys (one atomic Lua INCR with
 * expiry per consume), so N nodes behind a load balancer grant one budget, not N. While Redis
 * is unreachable each node falls back to counting alone in memory with the same budget (at most
 * N times the budget in all), rather than refusing every request or granting unlimited ones.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly limiter: RateLimiterRedis;

  /** `keyPrefix` names the budget: nodes sharing it share the counts; budgets must not share one. */
  constructor(client: Redis, budget: Budget, keyPrefix: string) {
    const common = { points: budget.points, duration: budget.perSeconds, keyPrefix };
    this.limiter = new RateLimiterRedis({
      ...common,
      storeClient: client,
      // Not ready (down, reconnecting): go to the fallback at once instead of queueing.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory(common),
    });
  }

  consume(key: string, cost = 1): Promise<void> {
    return consumeOrThrow(this.limiter, key, cost);
  }
}

/**
 * A Redis connection for rate limits: commands fail fast rather than wait in a queue while the
 * connection is down (the limiter then falls back), and it reconnects by itself. Resolves once
 * connected, or after `waitMs` if Redis does not answer: a node starts without Redis and uses it
 * when it comes.
 */
export async function connectRedis(url: string, waitMs = 2000): Promise<Redis> {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Connection errors are expected while Redis is away; the limiter's fallback covers them.
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return client;
}
