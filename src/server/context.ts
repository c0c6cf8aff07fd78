import { useCryptoProvider } from '../crypto/provider.js';
import { nativeCrypto } from '../crypto/provider-native.js';
import { DiscoveryProvider } from '../dp/provider.js';
import { ServedCache } from '../dp/served-cache.js';
import { Fanout } from '../federation/fanout.js';
import { type PeerNonces, RedisNonceCache, StoreNonces } from '../federation/nonce-cache.js';
import { enqueueDpEvent, OutboxWorker } from '../federation/outbox.js';
import { PeerStatus } from '../federation/peer-client.js';
import { type Clock, systemClock } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import type { TrustPolicy } from '../registry/policy.js';
import { RegistrySource } from '../registry/source.js';
import { LeaderRole, type Leadership } from '../store/leadership.js';
import {
  type Budgets,
  budgetLimiter,
  connectRedis,
  type RateLimiter,
  type SharedCounters,
} from '../store/rate-limit.js';
import type { Store } from '../store/store.js';
import { timedStore } from '../store/timed.js';
import type { DevOutboxChannel, OtpChannel } from '../verifier/channels.js';
import type { TxtResolver } from '../verifier/dns01.js';
import type { PossessionVerifier } from '../verifier/verifier.js';
import { SessionAuthority } from './auth.js';
import { type Limits, type LoadedConfig, type NodeConfig, reconfigured } from './config.js';
import { type DpKeys, readDpKeys } from './dp-keys.js';
import { BackgroundLog } from './logging.js';
import { LookupBudgets } from './lookup-budget.js';
import { NodeMetrics } from './metrics.js';
import { leadershipFor, openStore, readKeyFile } from './node-store.js';
import { createNodeVerifier } from './node-verifier.js';
import { createOhttpGateway, type OhttpGateway } from './ohttp-gateway.js';
import { createPrivateLookup, type PrivateLookup } from './private-lookup.js';
import { readiness } from './routes/health.js';
import { besideDpKey, readOrCreateSecretFile } from './secret-file.js';
import { createTransparency, type Transparency } from './transparency.js';

/** Everything a node runs on, built in one place (STYLE.md §11); tests override parts. */
export interface Context {
  config: LoadedConfig;
  /** One key per registry usage: records, transport, log (src/server/dp-keys.ts). */
  dpKeys: DpKeys;
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
  /** R22: each MSP's plain-path lookups per minute and per day (registry tier), cut by reputation. */
  lookupBudgets: LookupBudgets;
  /**
   * R23: nonces of signed peer requests, kept in the store (they outlive a restart); Redis, when
   * configured, refuses a replay first.
   */
  peerNonces: PeerNonces;
  /**
   * Which single-at-a-time jobs (LeaderRole) this node runs now: all of them on SQLite, the roles
   * whose PostgreSQL lease it holds when many nodes share one database (R22).
   */
  leadership: Leadership;
  fanout: Fanout;
  outbox: OutboxWorker;
  limits: Limits;
  /** The private lookup path (R9, R22, R26, R28); undefined when disabled in config. */
  privateLookup: PrivateLookup | undefined;
  /** The Oblivious HTTP gateway of the private lookup, when `ohttp` is configured. */
  ohttp: OhttpGateway | undefined;
  /** Prometheus metrics of this node (src/server/metrics.ts). */
  metrics: NodeMetrics;
  /** Set when shutdown begins: /readyz answers 503 from then on. */
  lifecycle: { draining: boolean };
  /** Log lines of the background jobs; buildApp attaches the node's logger. */
  log: BackgroundLog;
  /** The transparency log and the witness of peers' logs (R3, R28); undefined when disabled. */
  transparency: Transparency | undefined;
  /** The one clock every component reads (src/protocol/clock.ts); a test clock in tests. */
  clock: Clock;
  /** `clock.now`: whole seconds. */
  now: () => number;
  close(): Promise<void>;
}

export interface ContextOverrides {
  /** Default the system clock; tests share one they move (test/support/clock.ts). */
  clock?: Clock;
  store?: Store;
  channels?: { tel?: OtpChannel; mailto?: OtpChannel };
  /** R29: the verifier's dns-01 lookups. */
  dns01?: TxtResolver;
  /**
   * Settings changed for this node (tests): applied to a copy of the file's config, which is
   * then validated and resolved again (src/server/config.ts, reconfigured).
   */
  config?: (config: NodeConfig) => void;
}

export { openStore, readKeyFile } from './node-store.js';

/** Redis for the counters shared by the DP's nodes, when rateLimits.redisUrl is set. */
async function sharedCounters(loaded: LoadedConfig): Promise<SharedCounters | undefined> {
  const r = loaded.resolved.rateLimits;
  return r === undefined ? undefined : { redis: await connectRedis(r.redisUrl), keyPrefix: r.keyPrefix };
}

/** Rate limiters in memory (one node), or in Redis when rateLimits.redisUrl is set (many nodes). */
function rateLimiters(budgets: Budgets, limits: Limits) {
  const limiter = (name: string, points: number): RateLimiter =>
    budgetLimiter(budgets, name, { points, perSeconds: 60 });
  return {
    callerLimiter: limiter('caller', limits.callerPointsPerMinute),
    anonymousLimiter: limiter('anonymous', limits.anonymousPerMinute),
    nonDefaultLimiter: limiter('non-default', limits.nonDefaultPointsPerMinute),
    peerLimiter: limiter('peer', limits.peerPointsPerMinute),
    async close() {
      const redis = budgets.shared?.redis;
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}

export async function createContext(
  fromFile: LoadedConfig,
  overrides: ContextOverrides = {},
): Promise<Context> {
  const loaded = overrides.config === undefined ? fromFile : reconfigured(fromFile, overrides.config);
  const { config, resolved } = loaded;
  // The server verifies every signature it accepts or relays: libsodium's native binding, not the
  // SDK's WebAssembly build (same results, src/crypto/provider.ts).
  useCryptoProvider(nativeCrypto);
  const clock = overrides.clock ?? systemClock;
  const now = clock.now;
  // R23: one secret for every node of the DP, so a token from one node is good on all.
  const sessionSecretFile =
    config.sessions?.secretFile === undefined
      ? besideDpKey(loaded, 'session.key')
      : loaded.path(config.sessions.secretFile);
  const sessions = new SessionAuthority({
    secret: readOrCreateSecretFile(sessionSecretFile, 'sessions.secretFile'),
    ttlSeconds: resolved.sessions.ttlSeconds,
  });
  const registry = new RegistrySource({
    location: /^https?:/.test(config.registry.location)
      ? config.registry.location
      : loaded.path(config.registry.location),
    pinnedKey: config.registry.pinnedKey,
    refreshSeconds: resolved.registry.refreshSeconds,
    maxBytes: resolved.registry.maxBytes,
    now,
  });
  await registry.load();
  const entry = registry.current().dp(config.dp.id);
  if (entry === undefined)
    throw new MimiError('config-invalid', `dp.id: ${config.dp.id} is not in the registry`);
  const dpKeys = readDpKeys(loaded, registry.current(), readKeyFile);
  let built: Context | undefined;
  const log = new BackgroundLog();
  const metrics = new NodeMetrics({
    outboxDepth: () => store.outboxDepth(),
    peers: () => {
      try {
        return fanout.peersFor('all').map((peer) => ({ peer, state: fanout.breakerState(peer) }));
      } catch {
        return []; // no registry yet
      }
    },
    ready: async () => built !== undefined && (await readiness(built)).ready,
    leadership: () => leadership.roles(),
    mspReputation: () => lookupBudgets.reputations(),
    cacheBytes: () => ({
      ...transparency?.log.cacheBytes(),
      ...(servedCache === undefined ? {} : { served: servedCache.bytes }),
    }),
  });
  // Every store call is timed (mimi_store_operation_duration_seconds); served reads of a CSI
  // seen recently are answered from memory on a store only this node writes (served-cache.ts).
  const opened = overrides.store ?? (await openStore(loaded));
  const timed = timedStore(opened, (op, run) => metrics.timeStore(op, run));
  const servedCache =
    resolved.store.servedCacheBytes > 0 && opened.backend === 'sqlite'
      ? new ServedCache(resolved.store.servedCacheBytes, (hits, misses) => {
          if (hits > 0) metrics.servedCache.inc({ outcome: 'hit' }, hits);
          if (misses > 0) metrics.servedCache.inc({ outcome: 'miss' }, misses);
        })
      : undefined;
  const store = servedCache === undefined ? timed : servedCache.wrap(timed);
  await servedCache?.warm(timed, now());
  const policy: TrustPolicy = {
    trustedIssuers: config.policy?.trustedIssuers,
    requireIndependentVerifier: config.policy?.requireIndependentVerifier,
  };
  const shared = await sharedCounters(loaded);
  // R22: every budget is one for the DP when shared, and each refusal is counted by budget
  // (mimi_rate_limited_total).
  const budgets: Budgets = { shared, onLimited: (name) => metrics.countRateLimited(name) };
  // R9, R26: the log commits every OPRF epoch's key, so the index opens once the log exists.
  let transparency: ReturnType<typeof createTransparency>;
  const privateLookup = await createPrivateLookup(loaded, store, now, budgets, () => transparency?.log, {
    registry: () => registry.current(),
    onOutcome: (outcome) => metrics.countTokenOutcome(outcome),
  });
  transparency = createTransparency(loaded, { store, dpKeys, registry, budgets, now });
  await privateLookup?.index.open();
  const ohttp = await createOhttpGateway(loaded, now);
  const dp = new DiscoveryProvider({
    id: config.dp.id,
    key: dpKeys.records,
    store,
    registry: () => registry.current(),
    policy,
    contestWindowSeconds: resolved.policy.contestWindowSeconds,
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
  const fed = resolved.federation;
  // Peer calls, notices and peer sessions: the transport key.
  const self = { id: config.dp.id, key: dpKeys.transport.privateKey };
  const fanout = new Fanout({
    self,
    registry: () => registry.current(),
    policy,
    clock,
    preferredPeers: fed.preferredPeers,
    timeoutMs: fed.peerTimeoutMs,
    maxAnswerBytesPerCsi: fed.maxAnswerBytesPerCsi,
    breakerFailures: fed.breakerFailures,
    breakerCooldownMs: fed.breakerCooldownMs,
    onReport: (r) => {
      metrics.peerCalls.inc({ peer: r.dp, outcome: r.status });
      // Failures only, and not the calls an open breaker skips: at most breakerFailures lines,
      // then one per probe after each cooldown, while a peer is down.
      if (r.status !== PeerStatus.Ok && r.code !== 'circuit-open') {
        log.warn({ peer: r.dp, outcome: r.status, code: r.code }, 'peer lookup failed');
      }
    },
  });
  const outbox = new OutboxWorker({
    store,
    registry: () => registry.current(),
    self,
    clock,
    intervalMs: fed.outboxIntervalMs,
    maxBackoffMs: fed.outboxMaxBackoffMs,
    baseBackoffMs: fed.outboxBaseBackoffMs,
    timeoutMs: fed.outboxTimeoutMs,
    onDelivered: (item) => metrics.outboxDeliveries.inc({ target: item.target, outcome: 'delivered' }),
    onError: (item, err) => {
      metrics.outboxDeliveries.inc({ target: item.target, outcome: 'failed' });
      log.warn(
        { target: item.target, attempts: item.attempts + 1, reason: (err as Error).message },
        'outbox delivery failed; retried with backoff',
      );
    },
  });

  const { verifier, devOutbox, channels } = createNodeVerifier(loaded, {
    store,
    registry: registry.current(),
    now,
    channels: overrides.channels,
    dns01: overrides.dns01,
  });

  const { limits } = loaded.resolved;
  const limiters = rateLimiters(budgets, limits);
  const lookupBudgets = new LookupBudgets({
    budgets,
    fallback: limits.mspLookup,
    reputation: limits.lookupReputation,
    registry: () => registry.current(),
    now,
    // Once per transition, with the MSP and its ratios: never a CSI.
    onChange: (msp, slowed, { missRatio, sequentialShare }) =>
      slowed
        ? log.warn(
            { msp, missRatio, sequentialShare, slowdownFactor: limits.lookupReputation.slowdownFactor },
            'MSP lookups look like enumeration; its lookup budget is cut',
          )
        : log.info({ msp, missRatio, sequentialShare }, 'MSP lookup budget restored'),
  });
  registry.start();
  await transparency?.log.open();
  // R22: background jobs run on the node leading their role (one node of the DP at a time).
  const leadership = leadershipFor(loaded, log);
  leadership.add(LeaderRole.Outbox, outbox);
  if (transparency !== undefined) leadership.add(LeaderRole.Checkpoints, transparency.log);
  if (transparency?.witness !== undefined) leadership.add(LeaderRole.Witness, transparency.witness);
  if (privateLookup !== undefined) leadership.add(LeaderRole.PrivateIndex, privateLookup.index);
  let sweep: NodeJS.Timeout | undefined;
  leadership.add(LeaderRole.Contests, {
    start() {
      sweep = setInterval(() => {
        dp.resolveContests().catch(() => undefined);
      }, 60_000);
      sweep.unref();
    },
    stop() {
      clearInterval(sweep);
    },
  });
  await leadership.start();

  built = {
    config: loaded,
    dpKeys,
    store,
    registry,
    policy,
    dp,
    verifier,
    devOutbox,
    sessions,
    callerLimiter: limiters.callerLimiter,
    anonymousLimiter: limiters.anonymousLimiter,
    nonDefaultLimiter: limiters.nonDefaultLimiter,
    peerLimiter: limiters.peerLimiter,
    lookupBudgets,
    peerNonces:
      shared === undefined
        ? new StoreNonces(store)
        : new RedisNonceCache(shared.redis, `${shared.keyPrefix}:nonce`, new StoreNonces(store), clock.nowMs),
    leadership,
    fanout,
    outbox,
    limits,
    privateLookup,
    ohttp,
    transparency,
    metrics,
    lifecycle: { draining: false },
    log,
    clock,
    now,
    async close() {
      // Jobs stop here first; their roles are handed over only then.
      await leadership.close();
      await transparency?.close();
      await outbox.close();
      await privateLookup?.index.close();
      registry.close();
      for (const c of channels) await c.close?.();
      await limiters.close();
      await store.close();
    },
  };
  return built;
}
