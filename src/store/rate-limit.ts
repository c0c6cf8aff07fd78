import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { MimiError } from '../protocol/errors.js';

/** The rate-limit seam: in memory for one node; a shared backend plugs in here for many. */
export interface RateLimiter {
  /** Spend `cost` points of `key`'s budget or throw `rate-limited` with a retry hint. */
  consume(key: string, cost?: number): Promise<void>;
}

export interface Budget {
  points: number;
  perSeconds: number;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(budget: Budget) {
    this.limiter = new RateLimiterMemory({ points: budget.points, duration: budget.perSeconds });
  }

  async consume(key: string, cost = 1): Promise<void> {
    try {
      await this.limiter.consume(key, cost);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        throw new MimiError('rate-limited', 'rate limit reached; slow down', {
          retryAfter: Math.ceil(res.msBeforeNext / 1000),
        });
      }
      throw res;
    }
  }
}
