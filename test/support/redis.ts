import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, expect } from 'vitest';
import { connectRedis } from '../../src/store/rate-limit.js';

/**
 * Redis connections for one suite at `url` (MIMI_TEST_REDIS_URL): every key the suite writes
 * starts with `prefix`, and after each test those keys are deleted and the connections closed.
 * Call inside a describe block.
 */
export function testRedis(url: string): { prefix: string; connect(): Promise<Redis>; clients: Redis[] } {
  const clients: Redis[] = [];
  const prefix = `mimi-test-${randomBytes(6).toString('hex')}`;
  afterEach(async () => {
    const [first] = clients;
    if (first !== undefined) {
      const keys = await first.keys(`${prefix}*`);
      if (keys.length > 0) await first.del(...keys);
    }
    for (const c of clients.splice(0)) c.disconnect();
  });
  return {
    prefix,
    clients,
    async connect() {
      const c = await connectRedis(url);
      expect(c.status).toBe('ready');
      clients.push(c);
      return c;
    },
  };
}
