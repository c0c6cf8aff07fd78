import { MimiError } from '../protocol/errors.js';
import { checkResidencyRules } from '../store/residency/rules.js';
import { type ResolvedConfig, resolveConfig } from './config-defaults.js';
import { decodeSetting, folderOf, invalidSetting, pathsRelativeTo, readConfigJson } from './config-file.js';
import { NodeConfig, storeSchemas } from './config-schema.js';

export {
  configDefaults,
  type Limits,
  type ResolvedConfig,
  type ResolvedRelayConfig,
  type ResolvedStore,
  type ResolvedZone,
  relayDefaults,
  resolveConfig,
  resolveRelayConfig,
} from './config-defaults.js';
export { NodeConfig, RelayConfig } from './config-schema.js';

/**
 * One config file per node (JSON), read once at start (STYLE.md §11, §19): read the file and
 * the environment, validate, fill in every default (config-defaults.ts), read the environment
 * variables the file names. Relative paths are relative to the config file. Every failure names
 * the setting, or the environment variable.
 */

/** Environment overrides: the settings an operator changes per machine. */
const envOverrides: Record<string, (c: NodeConfig, v: string) => void> = {
  MIMI_LISTEN_HOST: (c, v) => {
    c.listen.host = v;
  },
  MIMI_LISTEN_PORT: (c, v) => {
    c.listen.port = Number(v);
  },
  MIMI_STORE_PATH: (c, v) => {
    if (c.store?.backend === 'postgres')
      throw invalidSetting('store.path', 'MIMI_STORE_PATH: store.backend is postgres; set MIMI_STORE_URL');
    if (c.store !== undefined) c.store.path = v;
  },
  MIMI_STORE_URL: (c, v) => {
    if (c.store?.backend !== 'postgres')
      throw invalidSetting('store.url', 'MIMI_STORE_URL: applies only when store.backend is postgres');
    c.store.url = v;
  },
  MIMI_REDIS_URL: (c, v) => {
    c.rateLimits = { ...c.rateLimits, redisUrl: v };
  },
  MIMI_REGISTRY_LOCATION: (c, v) => {
    c.registry.location = v;
  },
  MIMI_OPERATIONS_HOST: (c, v) => {
    // Without a port (in the file or MIMI_OPERATIONS_PORT) the config check names the missing setting.
    const listen = { ...c.operations?.listen, host: v } as { host: string; port: number };
    c.operations = { ...c.operations, listen };
  },
  MIMI_OPERATIONS_PORT: (c, v) => {
    c.operations = { ...c.operations, listen: { ...c.operations?.listen, port: Number(v) } };
  },
  MIMI_SHUTDOWN_TIMEOUT_MS: (c, v) => {
    c.operations = { ...c.operations, shutdownTimeoutMs: Number(v) };
  },
};

/** The secrets the config names by environment variable (never written in the file). */
export interface ConfigSecrets {
  /** verifier.sms.gateway.tokenEnv's value. */
  smsGatewayToken: string | undefined;
  /** verifier.email.smtp.passwordEnv's value. */
  smtpPassword: string | undefined;
}

export interface LoadedConfig {
  /** The file as validated: what the operator wrote. */
  config: NodeConfig;
  /** Every setting with a default, filled in: what the components are built from. */
  resolved: ResolvedConfig;
  secrets: ConfigSecrets;
  /** Folder of the config file: relative paths resolve against it. */
  baseDir: string;
  path(p: string): string;
}

/** A variable the config names must be set: a node must not start without its SMTP password. */
function envValue(env: NodeJS.ProcessEnv, name: string | undefined, setting: string): string | undefined {
  if (name === undefined) return undefined;
  const value = env[name];
  if (value === undefined || value === '') {
    throw new MimiError('config-env-missing', `${setting}: environment variable ${name} is not set`, {
      setting,
      variable: name,
    });
  }
  return value;
}

/** A validated config, resolved, at `baseDir`: what loadConfig returns for a file. */
export function loadedConfig(
  config: NodeConfig,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const v = config.verifier;
  const secrets: ConfigSecrets = {
    smsGatewayToken:
      typeof v?.sms === 'object'
        ? envValue(env, v.sms.gateway.tokenEnv, 'verifier.sms.gateway.tokenEnv')
        : undefined,
    smtpPassword:
      typeof v?.email === 'object'
        ? envValue(env, v.email.smtp.passwordEnv, 'verifier.email.smtp.passwordEnv')
        : undefined,
  };
  return {
    config,
    resolved: resolveConfig(config),
    secrets,
    baseDir,
    path: pathsRelativeTo(baseDir),
  };
}

/**
 * The same node with some settings changed (the context's `config` override, for tests): the
 * file's config edited on a copy, then validated and resolved again, never the loaded one mutated.
 */
export function reconfigured(
  loaded: LoadedConfig,
  edit: (config: NodeConfig) => void,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const copy = structuredClone(loaded.config);
  edit(copy);
  return loadedConfig(checkConfig(copy), loaded.baseDir, env);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const raw = readConfigJson(file, 'config');
  for (const [name, apply] of Object.entries(envOverrides)) {
    const v = env[name];
    if (v !== undefined && typeof raw === 'object' && raw !== null) apply(raw as NodeConfig, v);
  }
  return loadedConfig(checkConfig(raw, file), folderOf(file), env);
}

export function checkConfig(raw: unknown, where = 'config'): NodeConfig {
  // The store first, against its backend's schema: an error then names the setting, not "union".
  const store = (raw as { store?: { backend?: unknown } } | null)?.store;
  const schema = storeSchemas[store?.backend as keyof typeof storeSchemas];
  if (typeof store === 'object' && store !== null && schema === undefined) {
    throw invalidSetting('store.backend', `${where}: config/store/backend: must be "sqlite" or "postgres"`);
  }
  if (schema !== undefined) decodeSetting(schema, store, '/store', where);
  const regions = (raw as { residency?: { regions?: unknown } } | null)?.residency?.regions;
  if (Array.isArray(regions)) {
    regions.forEach((r: { store?: { backend?: unknown } } | null, i) => {
      const s = storeSchemas[r?.store?.backend as keyof typeof storeSchemas];
      if (s !== undefined) decodeSetting(s, r?.store, `/residency/regions/${i}/store`, where);
    });
  }
  const config = decodeSetting(NodeConfig, raw, '', where);
  if (config.residency !== undefined) checkResidencyRules(config.residency, where);
  const { limits } = resolveConfig(config);
  for (const name of ['headersTimeoutMs', 'bodyTimeoutMs'] as const) {
    if (limits[name] > limits.requestTimeoutMs) {
      throw invalidSetting(
        `limits.${name}`,
        `${where}: limits.${name} (${limits[name]}) must not exceed limits.requestTimeoutMs (${limits.requestTimeoutMs})`,
      );
    }
  }
  if ((config.dp.keyFile === undefined) === (config.dp.keyFiles === undefined)) {
    throw invalidSetting(
      'dp.keyFiles',
      `${where}: dp: set keyFiles (one key per usage) or keyFile, one of them`,
    );
  }
  const v = config.verifier;
  if (!config.dev && (v?.sms === 'dev-outbox' || v?.email === 'dev-outbox')) {
    throw invalidSetting(
      v?.sms === 'dev-outbox' ? 'verifier.sms' : 'verifier.email',
      `${where}: verifier dev-outbox channels are allowed only in a config with "dev": true`,
    );
  }
  return config;
}
