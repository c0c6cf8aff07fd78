import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ServedCache } from '../../src/dp/served-cache.js';
import { configDefaults } from '../../src/server/config-defaults.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres-store.js';
import { ResidencyStore } from '../../src/store/residency/residency-store.js';
import type { ResidencyRules } from '../../src/store/residency/rules.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';

/**
 * Every Store backend, for suites that must pass on each (STYLE.md §10). PostgreSQL comes from
 * MIMI_TEST_POSTGRES_URL (set by .ci/run); each store opened gets a schema of its own,
 * mimi_test_<random>, dropped when the store is closed.
 */
export interface StoreBackend {
  name: 'sqlite' | 'postgres' | 'residency:sqlite' | 'residency:postgres';
  /** What the suite calls it, when not its name (a store seen through a cache). */
  title?: string;
  /** False when the backend's service is not configured: its tests are skipped, visibly. */
  available: boolean;
  /** A fresh, empty, migrated store; its close() also removes what it stored. */
  open(options?: Partial<PostgresStoreOptions>): Promise<Store>;
}

export const postgresUrl = process.env.MIMI_TEST_POSTGRES_URL || undefined;

let warned = false;
function warnSkip(): void {
  if (warned || postgresUrl !== undefined) return;
  warned = true;
  console.warn(
    'PostgreSQL store tests SKIPPED: MIMI_TEST_POSTGRES_URL is not set and nothing answers at 127.0.0.1:5432',
  );
}

/** True when PostgreSQL tests can run; says on the console when they cannot. */
export function postgresAvailable(): boolean {
  warnSkip();
  return postgresUrl !== undefined;
}

/** A throwaway SQLite store with a node's settings where `options` says nothing (the resolved config's defaults). */
export function tempSqliteStore(options: Partial<SqliteStoreOptions> = {}): SqliteStore {
  return new SqliteStore({ ...configDefaults.store.sqlite, path: ':temp:', ...options });
}

/** PostgreSQL store options with a node's settings where `options` says nothing. */
export function postgresOptions(
  options: Partial<PostgresStoreOptions> & { url: string },
): PostgresStoreOptions {
  return { ...configDefaults.store.postgres, ...options };
}

/** A throwaway schema name; tests in parallel files never share one. */
export const testSchema = () => `mimi_test_${randomBytes(6).toString('hex')}`;

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** Opens a PostgreSQL store on a new schema; closing it drops the schema. */
export async function openPostgresTestStore(
  options: Partial<PostgresStoreOptions> = {},
): Promise<PostgresStore> {
  if (postgresUrl === undefined) throw new Error('MIMI_TEST_POSTGRES_URL is not set');
  const url = postgresUrl;
  const schema = options.schema ?? testSchema();
  // Tests need no durability across a server crash; without the commit fsync a schema's
  // migrations take half the time.
  const store = await PostgresStore.open(
    postgresOptions({
      poolSize: 4,
      ...options,
      url,
      schema,
      settings: { synchronous_commit: 'off', ...options.settings },
    }),
  );
  const close = store.close.bind(store);
  let dropped = false;
  store.close = async () => {
    await close();
    if (dropped) return;
    dropped = true;
    await dropSchema(url, schema);
  };
  return store;
}

export function storeBackends(): StoreBackend[] {
  warnSkip();
  return [
    { name: 'sqlite', available: true, open: async () => tempSqliteStore() },
    { name: 'postgres', available: postgresUrl !== undefined, open: (o) => openPostgresTestStore(o) },
  ];
}

/**
 * SQLite seen through the node's served-rows cache (src/dp/served-cache.ts), large enough to keep
 * every row it reads: the Store contract must hold through it, every read after a write too.
 */
export function cachedStoreBackends(): StoreBackend[] {
  return [
    {
      name: 'sqlite',
      title: 'sqlite through the served cache',
      available: true,
      open: async () => new ServedCache(1 << 24).wrap(tempSqliteStore()),
    },
  ];
}

/** The backends whose service is there, for suites that only run the available ones. */
export function availableStoreBackends(): StoreBackend[] {
  return storeBackends().filter((b) => b.available);
}

/**
 * R27: the residency store routing over one store per region, each a backend of its own (a
 * SQLite file, or a PostgreSQL schema): `na` (+1 and example.org, the conformance suite's
 * CSIs), `eu` (+33, +49) and `home` (the default, holding DP-wide state).
 */
export const testResidencyRules: ResidencyRules = {
  default: 'home',
  regions: [
    { id: 'na', store: {}, callingCodes: ['1'], emailDomains: ['example.org'] },
    { id: 'eu', store: {}, callingCodes: ['33', '49'], emailDomains: ['example.de'] },
    { id: 'home' },
  ],
};

async function openResidency(open: () => Promise<Store>): Promise<ResidencyStore> {
  const opened: Store[] = [];
  const next = async () => {
    const s = await open();
    opened.push(s);
    return s;
  };
  try {
    return new ResidencyStore({
      rules: testResidencyRules,
      home: await next(),
      regions: { na: await next(), eu: await next() },
    });
  } catch (err) {
    await Promise.allSettled(opened.map((s) => s.close()));
    throw err;
  }
}

/** The residency store over each backend: the Store contract must hold when routed (R27). */
export function residencyStoreBackends(): StoreBackend[] {
  warnSkip();
  return [
    {
      name: 'residency:sqlite',
      available: true,
      open: () => openResidency(async () => tempSqliteStore()),
    },
    {
      name: 'residency:postgres',
      available: postgresUrl !== undefined,
      open: (o) => openResidency(() => openPostgresTestStore(o)),
    },
  ];
}
