import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Vitest global setup: finds the services the integration tests use, once per run, before the
 * test processes start (they inherit process.env from here).
 *
 * - A variable that is set (MIMI_TEST_POSTGRES_URL, MIMI_TEST_REDIS_URL) is what the person
 *   running the tests asked for: it must answer, or the run fails here, saying which one.
 * - A variable that is unset (or empty) is filled in when the service answers on its standard
 *   local address; otherwise it stays unset and the tests that need it skip, saying so.
 *
 * Prints one line: what was found where, and what will be skipped.
 */
export interface Service {
  name: string;
  variable: string;
  /** The standard local address, tried when the variable is unset. */
  local: string;
  /** Resolves when `url` answers as this service; rejects with the reason otherwise. */
  probe(url: string): Promise<void>;
}

export const services: readonly Service[] = [
  {
    name: 'PostgreSQL',
    variable: 'MIMI_TEST_POSTGRES_URL',
    local: 'postgres://postgres@127.0.0.1:5432/test',
    probe: probePostgres,
  },
  { name: 'Redis', variable: 'MIMI_TEST_REDIS_URL', local: 'redis://127.0.0.1:6379', probe: probeRedis },
];

const timeoutMs = 2000;

/** A real connection and a query: a port that accepts TCP but is not this database does not pass. */
export async function probePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects and expects PONG, with no retries: a dead address fails within the timeout. */
export async function probeRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
  } finally {
    client.disconnect();
  }
}

/** The URL as printed: without its password. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

function reason(err: unknown): string {
  if (err instanceof AggregateError) return err.errors.map(reason).join('; ');
  return err instanceof Error ? err.message || err.name : String(err);
}

/** Probes each service and sets the variables of those found; returns the line to print. */
export async function findServices(
  list: readonly Service[] = services,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const results = await Promise.all(
    list.map(async (s) => {
      const given = env[s.variable] || undefined;
      const url = given ?? s.local;
      try {
        await s.probe(url);
      } catch (err) {
        if (given !== undefined) {
          throw new Error(
            `${s.variable}=${shown(given)} does not answer (${reason(err)}); start ${s.name} there, or unset ${s.variable} to use ${s.local} if it answers and skip its tests if not`,
          );
        }
        return `${s.name} SKIPPED (nothing answers at ${s.local}, ${s.variable} unset)`;
      }
      env[s.variable] = url;
      return `${s.name} at ${shown(url)} (${given === undefined ? 'found on its standard local port' : s.variable})`;
    }),
  );
  return `test services: ${results.join('; ')}`;
}

export default async function setup(): Promise<void> {
  console.log(await findServices());
}
