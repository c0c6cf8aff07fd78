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

/** Where counters shared by the DP's nodes live: Redis when rateLimits.redisUrl is set (R22). */
export interface SharedCounters {
  redis: Redis;
  /** `rateLimits.keyPrefix` (default `mimi:<dp id>`); each budget adds `:<name>`. */
  keyPrefix: string;
}

/** How a node's named budgets are kept and watched. */
export interface Budgets {
  /** Redis shared by the DP's nodes (R22); without it each node counts alone, in memory. */
  shared?: SharedCounters;
  /** Told of each refusal, by budget name (the rate-limit metrics). */
  onLimited?: (name: string) => void;
}

/**
 * One named budget: counted in memory on one node, in Redis under `<keyPrefix>:<name>` when
 * shared. Each budget has its own keys: one caller id may appear in several budgets.
 */
export function budgetLimiter(budgets: Budgets, name: string, budget: Budget): RateLimiter {
  const { shared, onLimited } = budgets;
  const limiter =
    shared === undefined
      ? new MemoryRateLimiter(budget)
      : new RedisRateLimiter(shared.redis, budget, `${shared.keyPrefix}:${name}`);
  return onLimited === undefined ? limiter : countingLimiter(limiter, () => onLimited(name));
}

/**
 * A budget whose size is given per charge (R22: an MSP's lookup tier from the registry, cut while
 * its reputation is bad), over a fixed window of `perSeconds` from a key's first charge. One
 * counter per key, in Redis under `<keyPrefix>:<name>` when shared: a key's count survives a
 * change of its size. A charge is all or nothing, like the private path's evaluation budgets.
 */
export class SizedBudget {
  private readonly limiter: RateLimiterAbstract;
  /** Told of each refusal (the rate-limit metrics by budget). */
  private readonly onLimited: (() => void) | undefined;

  constructor(
    { shared, onLimited }: Budgets,
    readonly name: string,
    readonly perSeconds: number,
  ) {
    // The limiter only counts; charge() compares the count with the size it is given.
    const counting = { points: Number.MAX_SAFE_INTEGER, perSeconds };
    this.limiter =
      shared === undefined
        ? new RateLimiterMemory({ points: counting.points, duration: perSeconds })
        : redisLimiter(shared.redis, counting, `${shared.keyPrefix}:${name}`);
    this.onLimited = onLimited && (() => onLimited(name));
  }

  /** Spends `cost` of `key`'s `size` points, or nothing and throws `rate-limited`. */
  async charge(key: string, cost: number, size: number): Promise<void> {
    const res = await this.limiter.consume(key, cost);
    if (res.consumedPoints <= size) return;
    await this.limiter.reward(key, cost);
    this.onLimited?.();
    throw new MimiError('rate-limited', 'lookup budget exhausted; slow down', {
      retryAfter: Math.ceil(res.msBeforeNext / 1000),
      limit: size,
      windowSeconds: this.perSeconds,
    });
  }

  /** Gives back a charge for work that was refused before it was done. */
  async refund(key: string, cost: number): Promise<void> {
    await this.limiter.reward(key, cost);
  }
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

/**
 * `limiter`, telling `onLimited` each time it refuses (the rate-limit metrics by budget). The
 * result inherits from `limiter`, so it is still what it was (`instanceof RedisRateLimiter`).
 */
export function countingLimiter<L extends RateLimiter>(limiter: L, onLimited: () => void): L {
  const counted = Object.create(limiter) as L;
  counted.consume = async (key, cost) => {
    try {
      await limiter.consume(key, cost);
    } catch (err) {
      if (err instanceof MimiError && err.code === 'rate-limited') onLimited();
      throw err;
    }
  };
  return counted;
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
    this.limiter = redisLimiter(client, budget, keyPrefix);
  }

  consume(key: string, cost = 1): Promise<void> {
    return consumeOrThrow(this.limiter, key, cost);
  }
}

/**
 * The rate-limiter-flexible limiter behind RedisRateLimiter, for budgets that need more than
 * consume (the private lookup's whole-batch charges): counted in Redis, in memory while Redis is
 * away.
 */
export function redisLimiter(client: Redis, budget: Budget, keyPrefix: string): RateLimiterRedis {
  const common = { points: budget.points, duration: budget.perSeconds, keyPrefix };
  return new RateLimiterRedis({
    ...common,
    storeClient: client,
    // Not ready (down, reconnecting): go to the fallback at once instead of queueing.
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory(common),
  });
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
