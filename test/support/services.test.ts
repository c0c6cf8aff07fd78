import { describe, expect, it } from 'vitest';
import { findServices, probePostgres, probeRedis, type Service, services } from './services.js';

/**
 * The global setup's service discovery: an unset variable is filled in only when the service
 * answers, an explicitly set one that does not answer fails the run. Port 1 on 127.0.0.1 is
 * closed here, as on any machine without a service there.
 */
const dead = { postgres: 'postgres://postgres@127.0.0.1:1/test', redis: 'redis://127.0.0.1:1' };

function withLocal(local: { postgres: string; redis: string }): Service[] {
  return services.map((s) => ({ ...s, local: s.name === 'PostgreSQL' ? local.postgres : local.redis }));
}

describe('test services (test/support/services.ts)', () => {
  it('the probes refuse a closed port', async () => {
    await expect(probePostgres(dead.postgres)).rejects.toThrow();
    await expect(probeRedis(dead.redis)).rejects.toThrow();
  });

  it('unset and nothing answering locally: stays unset and says it skips', async () => {
    const env: NodeJS.ProcessEnv = { MIMI_TEST_REDIS_URL: '' };
    const line = await findServices(withLocal(dead), env);
    expect(env.MIMI_TEST_POSTGRES_URL).toBeUndefined();
    expect(env.MIMI_TEST_REDIS_URL).toBe('');
    expect(line).toContain('PostgreSQL SKIPPED');
    expect(line).toContain('Redis SKIPPED');
  });

  it('set but not answering: fails, naming the variable, and prints no password', async () => {
    const env: NodeJS.ProcessEnv = { MIMI_TEST_POSTGRES_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' };
    const run = findServices(withLocal(dead), env);
    await expect(run).rejects.toThrow(
      /^MIMI_TEST_POSTGRES_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test /,
    );
    await expect(run).rejects.not.toThrow(/hunter2/);
  });

  // Where the services run (the global setup found them, or they were given), an unset
  // variable is filled in from the local address that answers.
  const found = { postgres: process.env.MIMI_TEST_POSTGRES_URL, redis: process.env.MIMI_TEST_REDIS_URL };
  it.skipIf(found.postgres === undefined || found.redis === undefined)(
    'unset and answering locally: sets the variable to the local address',
    async () => {
      const env: NodeJS.ProcessEnv = {};
      const line = await findServices(withLocal({ postgres: found.postgres!, redis: found.redis! }), env);
      expect(env.MIMI_TEST_POSTGRES_URL).toBe(found.postgres);
      expect(env.MIMI_TEST_REDIS_URL).toBe(found.redis);
      expect(line).toContain('found on its standard local port');
    },
  );
});
