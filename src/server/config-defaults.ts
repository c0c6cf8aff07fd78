import {
  defaultReputationSettings,
  type LookupBudget,
  type ReputationSettings,
} from '../dp/lookup-reputation.js';
import { defaultRefreshSeconds, defaultRegistryMaxBytes } from '../registry/source.js';
import type { NodeConfig, RegistryConfig, RelayConfig } from './config-schema.js';

/**
 * Every default of the node config, in one place (STYLE.md §19, as atproto's `envToCfg`): what a
 * setting is when the file does not say. `resolveConfig` fills them in once, at start; the
 * context hands the resolved values to each component, so no component guesses one of its own.
 * Over 400 lines because the defaults, the resolved form's type and its resolution are three
 * tables of the same settings, kept side by side so that a new setting is added in one file.
 */
export const configDefaults = {
  registry: { refreshSeconds: defaultRefreshSeconds, maxBytes: defaultRegistryMaxBytes },
  sessions: { ttlSeconds: 3600 },
  store: {
    /** The served-rows cache of a SQLite node (src/dp/served-cache.ts): about 140,000 one-row CSIs. */
    servedCacheBytes: 32 * 2 ** 20,
    /** The read connection maps none of the file: mapped pages count in the node's RSS. */
    sqlite: { synchronous: 'normal', mmapBytes: 0, cacheBytes: 8 * 2 ** 20 },
    postgres: { poolSize: 10, connectionTimeoutMs: 5000, maxWriteAttempts: 5 },
    /** How often a node of a PostgreSQL DP tries the roles it does not lead (src/store/postgres/leadership.ts). */
    leadershipRetryMs: 1000,
  },
  policy: { contestWindowSeconds: 7 * 86_400 },
  federation: {
    peerTimeoutMs: 1500,
    breakerFailures: 3,
    breakerCooldownMs: 10_000,
    maxAnswerBytesPerCsi: 64 * 1024,
    outboxIntervalMs: 250,
    outboxMaxBackoffMs: 60_000,
    outboxBaseBackoffMs: 250,
    /** A delivery waits longer than a lookup's peer call: nobody is waiting on it. */
    outboxTimeoutMs: 5000,
    /** Witness rounds and peer proofs: a peer's log answer takes longer than a lookup. */
    logCallTimeoutMs: 5000,
  },
  verifier: {
    codeTtlSeconds: 300,
    codeDigits: 6,
    maxAttempts: 5,
    maxChallengesPerHour: 5,
    smsTimeoutMs: 10_000,
    dns01TimeoutMs: 2000,
    attestationLifetimeSeconds: 365 * 86_400,
  },
  log: {
    checkpointIntervalMs: 1000,
    witness: true,
    witnessIntervalMs: 10_000,
    requestsPerMinute: 6000,
    /** All the complete subtree hashes of a 250,000-leaf tree. */
    subtreeCacheBytes: 16 * 2 ** 20,
    /**
     * Off: a proof is to the latest (cosigned) checkpoint, which moves every few seconds while
     * mappings arrive, so a kept proof is reused only by a lookup of the same mapping before
     * then; spread over the directory, keeping them cost 42 MiB of RSS and a quarter more p99
     * on 100-CSI verbose batches, for no throughput (docs/operations.md, issue 16's second pair).
     */
    proofCacheBytes: 0,
  },
  privateLookup: {
    kAnonymity: 16,
    rotationSeconds: 7 * 86_400,
    overlapSeconds: 3600,
    buildBatch: 500,
    maxEvaluateBatch: 1000,
    mspEvaluations: { points: 100_000, perSeconds: 86_400 },
    anonymousEvaluations: { points: 500, perSeconds: 86_400 },
    tokenEvaluations: { points: 1_000_000, perSeconds: 86_400 },
    bucketRequestsPerMinute: 20_000,
    requireCredential: false,
  },
  ohttp: { replayWindowSeconds: 60 },
  operations: {
    /** Metrics are for the operator, not the public. */
    host: '127.0.0.1',
    shutdownTimeoutMs: 30_000,
    readyTimeoutMs: 2000,
    /**
     * Issue 16: left to itself on a large machine V8 lets the old space grow to several times
     * what survives a collection (a 100,000-mapping node rose past 570 MiB under mixed load);
     * growing it by a fifth keeps the node flat (docs/operations.md, "Memory").
     */
    heapGrowingPercent: 20,
  },
  dns: {
    host: '127.0.0.1',
    port: 53,
    refreshMs: 1000,
    maxUdpPayload: 1232,
    /** Each zone's: an invalidation is gone from resolvers' caches within a minute. */
    zone: { ttl: 60, negativeTtl: 30 },
  },
  limits: {
    maxBodyBytes: 64 * 1024,
    maxBatch: 100,
    maxSubmissionBatch: 500,
    maxSubmissionBatchBytes: 2 * 1024 * 1024,
    callerPointsPerMinute: 600_000,
    anonymousPerMinute: 120,
    nonDefaultPointsPerMinute: 60_000,
    peerPointsPerMinute: 600_000,
    requestTimeoutMs: 10_000,
    /** At most requestTimeoutMs, so a smaller requestTimeoutMs alone stays valid. */
    headersTimeoutMs: 5_000,
    // A few seconds: an idle connection costs a socket, and clients reconnect cheaply.
    keepAliveTimeoutMs: 5_000,
    // Room for a busy client (the benches use 16 connections, tests many more) but not for 1,500.
    maxConnectionsPerAddress: 256,
    // Strict: the private path grants an MSP 100,000 evaluations a day, and a plain lookup tells
    // more (the mapping itself), so an MSP without a registry tier gets no more. The minute
    // budget is 10 full batches, for a contact sync's burst.
    mspLookupPerMinute: 1_000,
    mspLookupPerDay: 100_000,
  },
} as const;

/** Every default of the OHTTP relay's config (src/server/relay.ts); its registry's are the node's. */
export const relayDefaults = {
  limits: {
    maxRequestBytes: 256 * 1024,
    /** A batch of buckets. */
    maxResponseBytes: 32 * 2 ** 20,
    requestsPerMinute: 1200,
    timeoutMs: 15_000,
  },
} as const;

export interface Limits {
  maxBodyBytes: number;
  maxBatch: number;
  maxSubmissionBatch: number;
  maxSubmissionBatchBytes: number;
  callerPointsPerMinute: number;
  anonymousPerMinute: number;
  nonDefaultPointsPerMinute: number;
  peerPointsPerMinute: number;
  /** R22: an MSP's lookup budget when the registry gives it none. */
  mspLookup: LookupBudget;
  lookupReputation: ReputationSettings;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnectionsPerAddress: number;
}

type Section<K extends keyof NodeConfig> = NonNullable<NodeConfig[K]>;
type Budget = { points: number; perSeconds: number };
type StoreSection = Section<'store'>;
type ZoneConfig = Section<'dns'>['zones'][number];

/** A DNS zone of the config with its TTLs filled in (src/dns/zone.ts reads its label key). */
export type ResolvedZone = Omit<ZoneConfig, 'ttl' | 'negativeTtl'> & { ttl: number; negativeTtl: number };

export interface ResolvedRegistry {
  refreshSeconds: number;
  maxBytes: number;
}

/** A store section with its defaults filled in: the main store's, or a residency region's. */
export type ResolvedStore =
  | {
      backend: 'sqlite';
      /** As written: relative to the config file's folder. */
      path: string;
      synchronous: 'normal' | 'full';
      mmapBytes: number;
      cacheBytes: number;
    }
  | {
      backend: 'postgres';
      url: string;
      schema: string | undefined;
      settings: Readonly<Record<string, string>> | undefined;
      poolSize: number;
      connectionTimeoutMs: number;
      maxWriteAttempts: number;
      leadershipRetryMs: number;
    };

/** The settings that have a default, each filled in: what the components are built from. */
export interface ResolvedConfig {
  registry: ResolvedRegistry;
  sessions: { ttlSeconds: number };
  store: {
    /** 0 where no served-rows cache may run: a PostgreSQL store, or residency across stores. */
    servedCacheBytes: number;
    /** The main store (with residency, the home region's). */
    home: ResolvedStore;
    /** R27: each residency region's own store, by region id (none for the home region). */
    regions: Readonly<Record<string, ResolvedStore>>;
  };
  policy: { contestWindowSeconds: number };
  federation: Required<Omit<Section<'federation'>, 'preferredPeers'>> & {
    preferredPeers: readonly string[] | undefined;
    logCallTimeoutMs: number;
  };
  verifier:
    | {
        codeTtlSeconds: number;
        codeDigits: number;
        maxAttempts: number;
        maxChallengesPerHour: number;
        smsTimeoutMs: number;
        dns01TimeoutMs: number;
        attestationLifetimeSeconds: number;
      }
    | undefined;
  log: {
    enabled: boolean;
    checkpointIntervalMs: number;
    /** null: witnessing is off. */
    witnessIntervalMs: number | null;
    requestsPerMinute: number;
    subtreeCacheBytes: number;
    proofCacheBytes: number;
  };
  privateLookup:
    | {
        kAnonymity: number;
        rotationSeconds: number;
        overlapSeconds: number;
        buildBatch: number;
        maxEvaluateBatch: number;
        budgets: { msp: Budget; anonymous: Budget; tokens: Budget };
        bucketRequestsPerMinute: number;
        requireCredential: boolean;
      }
    | undefined;
  ohttp: { replayWindowSeconds: number };
  operations: {
    listen: { host: string; port: number } | undefined;
    shutdownTimeoutMs: number;
    readyTimeoutMs: number;
    heapGrowingPercent: number;
  };
  dns: {
    listen: { host: string; port: number };
    refreshMs: number;
    maxUdpPayload: number;
    /** None when the config holds no dns section. */
    zones: readonly ResolvedZone[];
  };
  /** Where rate-limit counters are shared (Redis), when they are. */
  rateLimits: { redisUrl: string; keyPrefix: string } | undefined;
  limits: Limits;
}

/** The config's settings with every default of `configDefaults` filled in. */
export function resolveConfig(config: NodeConfig): ResolvedConfig {
  const d = configDefaults;
  const fed = config.federation ?? {};
  const log = config.log ?? {};
  const p = config.privateLookup;
  const ops = config.operations ?? {};
  const v = config.verifier;
  return {
    registry: resolveRegistry(config.registry),
    sessions: { ttlSeconds: config.sessions?.ttlSeconds ?? d.sessions.ttlSeconds },
    store: {
      servedCacheBytes:
        config.store.backend === 'sqlite' && config.residency === undefined
          ? (config.store.servedCacheBytes ?? d.store.servedCacheBytes)
          : 0,
      home: resolveStore(config.store),
      regions: Object.fromEntries(
        (config.residency?.regions ?? []).flatMap((r) => (r.store ? [[r.id, resolveStore(r.store)]] : [])),
      ),
    },
    policy: { contestWindowSeconds: config.policy?.contestWindowSeconds ?? d.policy.contestWindowSeconds },
    federation: {
      preferredPeers: fed.preferredPeers,
      peerTimeoutMs: fed.peerTimeoutMs ?? d.federation.peerTimeoutMs,
      breakerFailures: fed.breakerFailures ?? d.federation.breakerFailures,
      breakerCooldownMs: fed.breakerCooldownMs ?? d.federation.breakerCooldownMs,
      maxAnswerBytesPerCsi: fed.maxAnswerBytesPerCsi ?? d.federation.maxAnswerBytesPerCsi,
      outboxIntervalMs: fed.outboxIntervalMs ?? d.federation.outboxIntervalMs,
      outboxMaxBackoffMs: fed.outboxMaxBackoffMs ?? d.federation.outboxMaxBackoffMs,
      outboxBaseBackoffMs: fed.outboxBaseBackoffMs ?? d.federation.outboxBaseBackoffMs,
      outboxTimeoutMs: fed.outboxTimeoutMs ?? d.federation.outboxTimeoutMs,
      // Log calls wait as long as lookups when the operator set the peer timeout.
      logCallTimeoutMs: fed.peerTimeoutMs ?? d.federation.logCallTimeoutMs,
    },
    verifier: v && {
      codeTtlSeconds: v.codeTtlSeconds ?? d.verifier.codeTtlSeconds,
      codeDigits: v.codeDigits ?? d.verifier.codeDigits,
      maxAttempts: v.maxAttempts ?? d.verifier.maxAttempts,
      maxChallengesPerHour: v.maxChallengesPerHour ?? d.verifier.maxChallengesPerHour,
      smsTimeoutMs:
        (typeof v.sms === 'object' ? v.sms.gateway.timeoutMs : undefined) ?? d.verifier.smsTimeoutMs,
      dns01TimeoutMs: v.dns01?.timeoutMs ?? d.verifier.dns01TimeoutMs,
      attestationLifetimeSeconds: v.attestationLifetimeSeconds ?? d.verifier.attestationLifetimeSeconds,
    },
    log: {
      enabled: log.enabled !== false,
      checkpointIntervalMs: log.checkpointIntervalMs ?? d.log.checkpointIntervalMs,
      witnessIntervalMs:
        (log.witness ?? d.log.witness) ? (log.witnessIntervalMs ?? d.log.witnessIntervalMs) : null,
      requestsPerMinute: log.requestsPerMinute ?? d.log.requestsPerMinute,
      subtreeCacheBytes: log.subtreeCacheBytes ?? d.log.subtreeCacheBytes,
      proofCacheBytes: log.proofCacheBytes ?? d.log.proofCacheBytes,
    },
    privateLookup:
      p?.enabled === false
        ? undefined
        : {
            kAnonymity: p?.kAnonymity ?? d.privateLookup.kAnonymity,
            rotationSeconds: p?.rotationSeconds ?? d.privateLookup.rotationSeconds,
            overlapSeconds: p?.overlapSeconds ?? d.privateLookup.overlapSeconds,
            buildBatch: p?.buildBatch ?? d.privateLookup.buildBatch,
            maxEvaluateBatch: p?.maxEvaluateBatch ?? d.privateLookup.maxEvaluateBatch,
            budgets: {
              msp: p?.mspEvaluations ?? { ...d.privateLookup.mspEvaluations },
              anonymous: p?.anonymousEvaluations ?? { ...d.privateLookup.anonymousEvaluations },
              tokens: p?.tokenEvaluations ?? { ...d.privateLookup.tokenEvaluations },
            },
            bucketRequestsPerMinute: p?.bucketRequestsPerMinute ?? d.privateLookup.bucketRequestsPerMinute,
            requireCredential: p?.requireCredential ?? d.privateLookup.requireCredential,
          },
    ohttp: { replayWindowSeconds: config.ohttp?.replayWindowSeconds ?? d.ohttp.replayWindowSeconds },
    operations: {
      listen: ops.listen && { host: ops.listen.host ?? d.operations.host, port: ops.listen.port },
      shutdownTimeoutMs: ops.shutdownTimeoutMs ?? d.operations.shutdownTimeoutMs,
      readyTimeoutMs: ops.readyTimeoutMs ?? d.operations.readyTimeoutMs,
      heapGrowingPercent: ops.heapGrowingPercent ?? d.operations.heapGrowingPercent,
    },
    dns: {
      listen: config.dns?.listen ?? { host: d.dns.host, port: d.dns.port },
      refreshMs: config.dns?.refreshMs ?? d.dns.refreshMs,
      maxUdpPayload: config.dns?.maxUdpPayload ?? d.dns.maxUdpPayload,
      zones: (config.dns?.zones ?? []).map((z) => ({
        ...z,
        ttl: z.ttl ?? d.dns.zone.ttl,
        negativeTtl: z.negativeTtl ?? d.dns.zone.negativeTtl,
      })),
    },
    rateLimits:
      config.rateLimits?.redisUrl === undefined
        ? undefined
        : {
            redisUrl: config.rateLimits.redisUrl,
            keyPrefix: config.rateLimits.keyPrefix ?? `mimi:${config.dp.id}`,
          },
    limits: limitsOf(config),
  };
}

/** The node's and the relay's registry section, defaults filled in. */
function resolveRegistry(r: RegistryConfig): ResolvedRegistry {
  const d = configDefaults.registry;
  return { refreshSeconds: r.refreshSeconds ?? d.refreshSeconds, maxBytes: r.maxBytes ?? d.maxBytes };
}

/** The relay's settings that have a default, each filled in. */
export interface ResolvedRelayConfig {
  registry: ResolvedRegistry;
  limits: { maxRequestBytes: number; maxResponseBytes: number; requestsPerMinute: number; timeoutMs: number };
}

/** The relay config's settings with every default of `relayDefaults` filled in. */
export function resolveRelayConfig(config: RelayConfig): ResolvedRelayConfig {
  const l = config.limits ?? {};
  const d = relayDefaults.limits;
  return {
    registry: resolveRegistry(config.registry),
    limits: {
      maxRequestBytes: l.maxRequestBytes ?? d.maxRequestBytes,
      maxResponseBytes: l.maxResponseBytes ?? d.maxResponseBytes,
      requestsPerMinute: l.requestsPerMinute ?? d.requestsPerMinute,
      timeoutMs: l.timeoutMs ?? d.timeoutMs,
    },
  };
}

function resolveStore(s: StoreSection): ResolvedStore {
  if (s.backend === 'sqlite') {
    const d = configDefaults.store.sqlite;
    return {
      backend: 'sqlite',
      path: s.path,
      synchronous: s.synchronous ?? d.synchronous,
      mmapBytes: s.mmapBytes ?? d.mmapBytes,
      cacheBytes: s.cacheBytes ?? d.cacheBytes,
    };
  }
  const d = configDefaults.store.postgres;
  return {
    backend: 'postgres',
    url: s.url,
    schema: s.schema,
    settings: s.settings,
    poolSize: s.poolSize ?? d.poolSize,
    connectionTimeoutMs: s.connectionTimeoutMs ?? d.connectionTimeoutMs,
    maxWriteAttempts: s.maxWriteAttempts ?? d.maxWriteAttempts,
    leadershipRetryMs: s.leadershipRetryMs ?? configDefaults.store.leadershipRetryMs,
  };
}

function limitsOf(config: NodeConfig): Limits {
  const l = config.limits ?? {};
  const d = configDefaults.limits;
  const requestTimeoutMs = l.requestTimeoutMs ?? d.requestTimeoutMs;
  return {
    maxBodyBytes: l.maxBodyBytes ?? d.maxBodyBytes,
    maxBatch: l.maxBatch ?? d.maxBatch,
    maxSubmissionBatch: l.maxSubmissionBatch ?? d.maxSubmissionBatch,
    maxSubmissionBatchBytes: l.maxSubmissionBatchBytes ?? d.maxSubmissionBatchBytes,
    callerPointsPerMinute: l.callerPointsPerMinute ?? d.callerPointsPerMinute,
    anonymousPerMinute: l.anonymousPerMinute ?? d.anonymousPerMinute,
    nonDefaultPointsPerMinute: l.nonDefaultPointsPerMinute ?? d.nonDefaultPointsPerMinute,
    peerPointsPerMinute: l.peerPointsPerMinute ?? d.peerPointsPerMinute,
    requestTimeoutMs,
    headersTimeoutMs: l.headersTimeoutMs ?? Math.min(d.headersTimeoutMs, requestTimeoutMs),
    bodyTimeoutMs: l.bodyTimeoutMs ?? requestTimeoutMs,
    keepAliveTimeoutMs: l.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs,
    maxConnectionsPerAddress: l.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress,
    mspLookup: {
      perMinute: l.mspLookupPerMinute ?? d.mspLookupPerMinute,
      perDay: l.mspLookupPerDay ?? d.mspLookupPerDay,
    },
    lookupReputation: { ...defaultReputationSettings, ...l.lookupReputation },
  };
}
