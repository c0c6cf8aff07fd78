import { readFileSync } from 'node:fs';
import { type KeyPair, keyPairFromJwk } from '../crypto/keys.js';
import { DiscoveryProvider } from '../dp/provider.js';
import { Fanout } from '../federation/fanout.js';
import { NonceCache } from '../federation/nonce-cache.js';
import { enqueueDpEvent, OutboxWorker } from '../federation/outbox.js';
import { nowSeconds } from '../protocol/encoding.js';
import { MimiError } from '../protocol/errors.js';
import type { TrustPolicy } from '../registry/policy.js';
import { RegistrySource } from '../registry/source.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { connectRedis, MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from '../store/rate-limit.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { DevOutboxChannel, HttpSmsChannel, type OtpChannel, SmtpChannel } from '../verifier/channels.js';
import { PossessionVerifier } from '../verifier/verifier.js';
import { SessionAuthority } from './auth.js';
import { type Limits, type LoadedConfig, limitsOf, type NodeConfig } from './config.js';
import { createPrivateLookup, type PrivateLookup } from './private-lookup.js';
import { readOrCreateSecretFile } from './secret-file.js';
import { createTransparency, type Transparency } from './transparency.js';

/** Everything a node runs on, built in one place (STYLE.md §11); tests override parts. */
export interface Context {
  config: LoadedConfig;
  dpKey: KeyPair;
  store: Store;
  registry: RegistrySource;
  policy: TrustPolicy;
  dp: DiscoveryProvider;
  verifier: PossessionVerifier | undefined;
  /** Set when the verifier's channels include the development outbox. */
  devOutbox: DevOutboxChannel | undefined;
  sessions: SessionAuthority;
  callerLimiter: RateLimiter;
  anonymousLimiter: RateLimiter;
  /** R12: the smaller budget of non-default (federated) lookups. */
  nonDefaultLimiter: RateLimiter;
  /** R13: what each peer DP may have us look up for it. */
  peerLimiter: RateLimiter;
  peerNonces: NonceCache;
  fanout: Fanout;
  outbox: OutboxWorker;
  limits: Limits;
  /** The private lookup path (R9, R22, R26, R28); undefined when disabled in config. */
  privateLookup: PrivateLookup | undefined;
  /** The transparency log and the witness of peers' logs (R3, R28); undefined when disabled. */
  transparency: Transparency | undefined;
  now: () => number;
  close(): Promise<void>;
}

export interface ContextOverrides {
  now?: () => number;
  store?: Store;
  channels?: { tel?: OtpChannel; mailto?: OtpChannel };
}

export function readKeyFile(path: string, setting: string): KeyPair {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new MimiError('config-invalid', `${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
  return keyPairFromJwk(jwk, setting);
}

/** The store the config names: SQLite for one node, PostgreSQL for one or many. */
export async function openStore(loaded: LoadedConfig): Promise<Store> {
  const s = loaded.config.store;
  if (s.backend === 'postgres') {
    return PostgresStore.open({
      url: s.url,
      poolSize: s.poolSize,
      schema: s.schema,
      connectionTimeoutMs: s.connectionTimeoutMs,
      settings: s.settings,
    });
  }
  return new SqliteStore({ path: loaded.path(s.path), synchronous: s.synchronous });
}

/** Rate limiters in memory (one node), or in Redis when rateLimits.redisUrl is set (many nodes). */
async function rateLimiters(config: NodeConfig, limits: Limits) {
  const url = config.rateLimits?.redisUrl;
  const redis = url === undefined ? undefined : await connectRedis(url);
  const prefix = config.rateLimits?.keyPrefix ?? `mimi:${config.dp.id}`;
  // Each budget has its own keys: one caller id may appear in several budgets.
  const limiter = (name: string, points: number): RateLimiter =>
    redis === undefined
      ? new MemoryRateLimiter({ points, perSeconds: 60 })
      : new RedisRateLimiter(redis, { points, perSeconds: 60 }, `${prefix}:${name}`);
  return {
    callerLimiter: limiter('caller', limits.callerPointsPerMinute),
    anonymousLimiter: limiter('anonymous', limits.anonymousPerMinute),
    nonDefaultLimiter: limiter('non-default', limits.nonDefaultPointsPerMinute),
    peerLimiter: limiter('peer', limits.peerPointsPerMinute),
    async close() {
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}

export async function createContext(
  loaded: LoadedConfig,
  overrides: ContextOverrides = {},
): Promise<Context> {
  const { config } = loaded;
  const now = overrides.now ?? nowSeconds;
  const dpKey = readKeyFile(loaded.path(config.dp.keyFile), 'dp.keyFile');
  const registry = new RegistrySource({
    location: /^https?:/.test(config.registry.location)
      ? config.registry.location
      : loaded.path(config.registry.location),
    pinnedKey: config.registry.pinnedKey,
    refreshSeconds: config.registry.refreshSeconds,
    now,
  });
  await registry.load();
  const entry = registry.current().dp(config.dp.id);
  if (entry === undefined)
    throw new MimiError('config-invalid', `dp.id: ${config.dp.id} is not in the registry`);
  if (!entry.keys.includes(dpKey.publicKey)) {
    throw new MimiError('config-invalid', 'dp.keyFile: this key is not among the DP keys in the registry');
  }
  const store = overrides.store ?? (await openStore(loaded));
  const policy: TrustPolicy = {
    trustedIssuers: config.policy?.trustedIssuers,
    requireIndependentVerifier: config.policy?.requireIndependentVerifier,
  };
  const privateLookup = await createPrivateLookup(loaded, store, now);
  const transparency = createTransparency(loaded, { store, dpKey, registry, privateLookup, now });
  const dp = new DiscoveryProvider({
    id: config.dp.id,
    key: dpKey,
    store,
    registry: () => registry.current(),
    policy,
    contestWindowSeconds: config.policy?.contestWindowSeconds,
    now,
    log: transparency?.log,
    onServedChange: privateLookup && ((tx, csis, at) => privateLookup.index.onServedChange(tx, csis, at)),
    onEvent: async (tx, event) => {
      // A lone DP has no peer to tell: skip building and digesting an envelope with no target.
      if (
        event.kind === 'federation' &&
        !registry
          .current()
          .allDps()
          .some((d) => d.id !== config.dp.id)
      ) {
        return;
      }
      await enqueueDpEvent(tx, event, { self: config.dp.id, registry: registry.current(), now: now() });
      // After the commit: the queued rows are delivered at once rather than at the next tick.
      setImmediate(() => outbox.kick());
    },
  });
  const fed = config.federation ?? {};
  const self = { id: config.dp.id, key: dpKey.privateKey };
  const fanout = new Fanout({
    self,
    registry: () => registry.current(),
    policy,
    now,
    preferredPeers: fed.preferredPeers,
    timeoutMs: fed.peerTimeoutMs,
    maxAnswerBytesPerCsi: fed.maxAnswerBytesPerCsi,
    breakerFailures: fed.breakerFailures,
    breakerCooldownMs: fed.breakerCooldownMs,
  });
  const outbox = new OutboxWorker({
    store,
    registry: () => registry.current(),
    self,
    intervalMs: fed.outboxIntervalMs,
    maxBackoffMs: fed.outboxMaxBackoffMs,
  });

  let verifier: PossessionVerifier | undefined;
  let devOutbox: DevOutboxChannel | undefined;
  const channels: OtpChannel[] = [];
  if (config.verifier !== undefined) {
    const v = config.verifier;
    const vKey = readKeyFile(loaded.path(v.keyFile), 'verifier.keyFile');
    const entry = registry.current().issuer(v.id);
    if (entry?.kind !== 'verifier' || !entry.entry.keys.includes(vKey.publicKey)) {
      throw new MimiError(
        'config-invalid',
        `verifier.id: ${v.id} with this key is not a verifier in the registry`,
      );
    }
    const outbox = () => {
      devOutbox ??= new DevOutboxChannel(
        v.devOutboxFile === undefined ? undefined : loaded.path(v.devOutboxFile),
      );
      return devOutbox;
    };
    const tel =
      overrides.channels?.tel ??
      (v.sms === 'dev-outbox'
        ? outbox()
        : v.sms === undefined
          ? undefined
          : new HttpSmsChannel({
              url: v.sms.gateway.url,
              token: v.sms.gateway.tokenEnv === undefined ? undefined : process.env[v.sms.gateway.tokenEnv],
              timeoutMs: v.sms.gateway.timeoutMs,
            }));
    const mailto =
      overrides.channels?.mailto ??
      (v.email === 'dev-outbox'
        ? outbox()
        : v.email === undefined
          ? undefined
          : new SmtpChannel({
              ...v.email.smtp,
              password:
                v.email.smtp.passwordEnv === undefined ? undefined : process.env[v.email.smtp.passwordEnv],
            }));
    for (const c of [tel, mailto]) if (c !== undefined && !channels.includes(c)) channels.push(c);
    verifier = new PossessionVerifier({
      id: v.id,
      key: vKey,
      store,
      secret: readOrCreateSecretFile(loaded.path(v.secretFile), 'verifier.secretFile'),
      channels: { tel, mailto },
      codeTtlSeconds: v.codeTtlSeconds,
      maxAttempts: v.maxAttempts,
      maxChallengesPerHour: v.maxChallengesPerHour,
      now,
    });
  }

  const limits = limitsOf(config);
  const limiters = await rateLimiters(config, limits);
  registry.start();
  privateLookup?.index.start();
  await transparency?.log.open();
  transparency?.log.start();
  transparency?.witness?.start();
  outbox.start();
  const sweep = setInterval(() => {
    dp.resolveContests().catch(() => undefined);
  }, 60_000);
  sweep.unref();

  return {
    config: loaded,
    dpKey,
    store,
    registry,
    policy,
    dp,
    verifier,
    devOutbox,
    sessions: new SessionAuthority(),
    callerLimiter: limiters.callerLimiter,
    anonymousLimiter: limiters.anonymousLimiter,
    nonDefaultLimiter: limiters.nonDefaultLimiter,
    peerLimiter: limiters.peerLimiter,
    peerNonces: new NonceCache(),
    fanout,
    outbox,
    limits,
    privateLookup,
    transparency,
    now,
    async close() {
      await transparency?.close();
      clearInterval(sweep);
      await outbox.close();
      await privateLookup?.index.close();
      registry.close();
      for (const c of channels) await c.close?.();
      await limiters.close();
      await store.close();
    },
  };
}
