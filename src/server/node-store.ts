import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { type KeyPair, keyPairFromJwk } from '../crypto/keys.js';
import { MimiError } from '../protocol/errors.js';
import { type Leadership, SingleNodeLeadership } from '../store/leadership.js';
import { PostgresLeadership } from '../store/postgres/leadership.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { ResidencyStore } from '../store/residency/residency-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import type { LoadedConfig, ResolvedStore } from './config.js';
import type { BackgroundLog } from './logging.js';

/** What the context opens from the config's files and store settings (src/server/context.ts). */

export function readKeyFile(path: string, setting: string): KeyPair {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MimiError('config-invalid', `${setting}: cannot read ${path}: ${(err as Error).message}`, {
      setting,
    });
  }
  return keyPairFromJwk(jwk, setting);
}

/**
 * The store the config names: SQLite for one node, PostgreSQL for one or many; with `residency`
 * (R27), a store routing each CSI's records to its region's store (src/store/residency).
 */
export async function openStore(loaded: LoadedConfig): Promise<Store> {
  const { residency } = loaded.config;
  const { home, regions } = loaded.resolved.store;
  if (residency === undefined) return openStoreOf(loaded, home);
  return ResidencyStore.open({
    rules: { ...residency, regions: residency.regions.map((r) => ({ ...r, store: regions[r.id] })) },
    home,
    open: (s) => openStoreOf(loaded, s),
    where: (s) =>
      s.backend === 'postgres'
        ? `${s.url.replace(/\?.*$/, '')} schema ${s.schema ?? 'public'}`
        : s.path.startsWith(':')
          ? undefined
          : loaded.path(s.path),
  });
}

async function openStoreOf(loaded: LoadedConfig, s: ResolvedStore): Promise<Store> {
  if (s.backend === 'postgres') return PostgresStore.open(s);
  return new SqliteStore({ ...s, path: loaded.path(s.path) });
}

/**
 * Leadership of the single-at-a-time jobs: PostgreSQL advisory-lock leases when nodes share a
 * database, every role on this node with SQLite. The node's name (its pg application_name)
 * says which DP, process and machine it is.
 */
export function leadershipFor(loaded: LoadedConfig, log: BackgroundLog): Leadership {
  const nodeName = `mimi:${loaded.config.dp.id}:${process.pid}@${hostname()}`;
  const s = loaded.resolved.store.home;
  return s.backend === 'postgres'
    ? new PostgresLeadership({
        url: s.url,
        schema: s.schema,
        settings: s.settings,
        connectionTimeoutMs: s.connectionTimeoutMs,
        retryMs: s.leadershipRetryMs,
        nodeName,
        onChange: (role, leading) =>
          log.info({ role, node: nodeName }, leading ? 'took the role' : 'no longer holds the role'),
      })
    : new SingleNodeLeadership(nodeName);
}
