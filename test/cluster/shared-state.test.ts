import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisNonceCache, StoreNonces } from '../../src/federation/nonce-cache.js';
import { isMimiError } from '../../src/protocol/errors.js';
import { SessionAuthority } from '../../src/server/auth.js';
import { configDefaults } from '../../src/server/config.js';
import { EvaluationBudget } from '../../src/server/private-lookup.js';
import { readOrCreateSecretFile } from '../../src/server/secret-file.js';
import { testRedis } from '../support/redis.js';
import { tempSqliteStore } from '../support/stores.js';

/**
 * R22, R23 across nodes: what one node remembers, every node of the DP must know. Each "node"
 * here has its own objects and its own Redis connection, as separate processes do.
 */

const redisUrl = process.env.MIMI_TEST_REDIS_URL || undefined;
if (redisUrl === undefined)
  console.warn(
    'Shared-state Redis tests SKIPPED: MIMI_TEST_REDIS_URL is not set and nothing answers at 127.0.0.1:6379',
  );

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('R23: session tokens under one secret file are good on every node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mimi-sessions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a token issued by one node is accepted by another reading the same file, refused under another file', () => {
    const file = join(dir, 'sessions.secret');
    const a = new SessionAuthority({
      secret: readOrCreateSecretFile(file, 'sessions.secretFile'),
      ttlSeconds: configDefaults.sessions.ttlSeconds,
    });
    const b = new SessionAuthority({
      secret: readOrCreateSecretFile(file, 'sessions.secretFile'),
      ttlSeconds: configDefaults.sessions.ttlSeconds,
    });
    const other = new SessionAuthority({
      secret: readOrCreateSecretFile(join(dir, 'other.secret'), 'sessions.secretFile'),
      ttlSeconds: configDefaults.sessions.ttlSeconds,
    });
    const now = 1_000_000;
    const token = a.issue({ participant: 'msp1', role: 'msp', expiresAt: now + 60 });
    expect(b.check(token, now)).toEqual({ participant: 'msp1', role: 'msp', expiresAt: now + 60 });
    const err = (() => {
      try {
        other.check(token, now);
      } catch (e) {
        return e;
      }
    })();
    expect(isMimiError(err, 'unauthenticated')).toBe(true);
  });
});

describe.skipIf(redisUrl === undefined)('R22, R23: nonces and private-lookup budgets in Redis', () => {
  const { prefix, connect: redis, clients } = testRedis(redisUrl!);

  it('a peer nonce seen by one node is a replay on another; keys expire by themselves; the store outlasts Redis', async () => {
    // The DP's database (PostgreSQL when nodes share one), behind Redis.
    const store = tempSqliteStore();
    const other = tempSqliteStore();
    try {
      const a = new RedisNonceCache(await redis(), `${prefix}:nonce`, new StoreNonces(store));
      const b = new RedisNonceCache(await redis(), `${prefix}:nonce`, new StoreNonces(store));
      const until = Math.floor(Date.now() / 1000) + 60;
      expect(await a.add('dp2:n1', until)).toBe(true);
      expect(await b.add('dp2:n1', until)).toBe(false);
      expect(await a.add('dp2:n1', until)).toBe(false);
      expect(await b.add('dp2:n2', until)).toBe(true);
      const ttl = await clients[0]!.pttl(`${prefix}:nonce:dp2:n1`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
      // Redis keeps nothing on disk: after it restarts the store still refuses the nonce.
      await clients[0]!.del(`${prefix}:nonce:dp2:n1`);
      expect(await b.add('dp2:n1', until)).toBe(false);
      // Another DP (another prefix, another store) keeps its own.
      const elsewhere = new RedisNonceCache(await redis(), `${prefix}:other:nonce`, new StoreNonces(other));
      expect(await elsewhere.add('dp2:n1', until)).toBe(true);
    } finally {
      await store.close();
      await other.close();
    }
  });

  it('an evaluation budget is shared by the nodes and still charges a whole batch or nothing', async () => {
    const budget = { points: 10, perSeconds: 3600 };
    const a = new EvaluationBudget(budget, 'private-msp', {
      shared: { keyPrefix: prefix, redis: await redis() },
    });
    const b = new EvaluationBudget(budget, 'private-msp', {
      shared: { keyPrefix: prefix, redis: await redis() },
    });
    await a.charge('msp:msp1', 6);
    const err = await refusal(b.charge('msp:msp1', 6));
    expect(isMimiError(err, 'rate-limited')).toBe(true);
    expect((err as { extra: { remaining: number } }).extra.remaining).toBe(4);
    // The refused batch cost nothing: the 4 points left are there, on either node.
    await b.charge('msp:msp1', 4);
    expect(isMimiError(await refusal(a.charge('msp:msp1', 1)), 'rate-limited')).toBe(true);
    // A refund on one node is seen by the other.
    await a.refund('msp:msp1', 2);
    await b.charge('msp:msp1', 2);
    // Another credential has its own budget.
    await b.charge('msp:msp2', 10);
  });
});
