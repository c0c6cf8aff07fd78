import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import {
  defaultReputationSettings,
  type LookupBudget,
  type ReputationSettings,
} from '../dp/lookup-reputation.js';
import { MimiError } from '../protocol/errors.js';
import { decodeRecord, ParticipantId, PublicKeyB64 } from '../protocol/records.js';
import { checkResidencyRules } from '../store/residency/rules.js';

/**
 * One config file per node (JSON), read once, validated, with a few environment overrides.
 * Relative paths are relative to the config file. Every failure names the setting.
 */
const SmtpConfig = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    secure: Type.Optional(Type.Boolean()),
    allowPlaintext: Type.Optional(Type.Boolean()),
    user: Type.Optional(Type.String()),
    passwordEnv: Type.Optional(
      Type.String({ description: 'name of the environment variable with the password' }),
    ),
    from: Type.String({ minLength: 3 }),
  },
  { additionalProperties: false },
);

const SmsGatewayConfig = Type.Object(
  {
    url: Type.String({ pattern: '^https?://' }),
    tokenEnv: Type.Optional(Type.String()),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
  },
  { additionalProperties: false },
);

const EvaluationBudget = Type.Object(
  { points: Type.Integer({ minimum: 1 }), perSeconds: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);

const SqliteStoreConfig = Type.Object(
  {
    backend: Type.Literal('sqlite'),
    path: Type.String({ minLength: 1 }),
    synchronous: Type.Optional(Type.Union([Type.Literal('normal'), Type.Literal('full')])),
    /**
     * Bytes of the database file the read connection maps (default 1 GiB; 0: none). Mapped pages
     * count in the node's RSS as file-backed pages (the kernel's page cache, reclaimable).
     */
    mmapBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 46 })),
    /** Bytes of SQLite's own page cache on the read connection (default 64 MiB; heap memory). */
    cacheBytes: Type.Optional(Type.Integer({ minimum: 1 << 20, maximum: 2 ** 40 })),
  },
  { additionalProperties: false },
);

/** Many nodes share one PostgreSQL (docs/operations.md). */
const PostgresStoreConfig = Type.Object(
  {
    backend: Type.Literal('postgres'),
    /** postgres://user@host:port/database; give the password in PGPASSWORD rather than here. */
    url: Type.String({ pattern: '^postgres(ql)?://' }),
    /** Connections this node keeps at most (default 10). */
    poolSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    /** Schema of the tables, created if missing (default public). */
    schema: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
    connectionTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    /** Session settings, e.g. { "statement_timeout": "10s", "lock_timeout": "5s" }. */
    settings: Type.Optional(
      Type.Record(Type.RegExp(/^[a-z_][a-z0-9_.]*$/), Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), {
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
);

const storeSchemas = { sqlite: SqliteStoreConfig, postgres: PostgresStoreConfig } as const;

/** Data residency (R27): each region's CSIs in a store of its own (src/store/residency, docs/operations.md). */
const ResidencyConfig = Type.Object(
  {
    /** The region whose store is the main `store` (DP-wide state, and CSIs no rule matches). */
    default: Type.String({ minLength: 1 }),
    regions: Type.Array(
      Type.Object(
        {
          id: Type.String({ minLength: 1 }),
          /** Absent for the default region only. */
          store: Type.Optional(Type.Union([SqliteStoreConfig, PostgresStoreConfig])),
          /** Country calling codes without +, e.g. "33". */
          callingCodes: Type.Optional(Type.Array(Type.String())),
          /** Email domains, matched exactly. */
          emailDomains: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

export const NodeConfig = Type.Object(
  {
    /** Marks a development config: only then may codes go to the local outbox. */
    dev: Type.Optional(Type.Boolean()),
    dp: Type.Object(
      {
        id: ParticipantId,
        /**
         * One JWK per key usage of the registry (registry.md §8.1.1): `records` signs mappings and
         * receipts, `transport` peer calls, notices and sessions, `log` checkpoints and cosignatures.
         */
        keyFiles: Type.Optional(
          Type.Object(
            { records: Type.String(), transport: Type.String(), log: Type.String() },
            { additionalProperties: false },
          ),
        ),
        /** Or one JWK for every usage: only under a version 1 registry, which lists one key list. */
        keyFile: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    registry: Type.Object(
      {
        location: Type.String({ minLength: 1 }),
        pinnedKey: PublicKeyB64,
        refreshSeconds: Type.Optional(Type.Integer({ minimum: 10 })),
      },
      { additionalProperties: false },
    ),
    store: Type.Union([SqliteStoreConfig, PostgresStoreConfig]),
    residency: Type.Optional(ResidencyConfig),
    listen: Type.Object(
      {
        host: Type.String({ minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        /** Plain HTTP on a non-loopback address is refused unless this is set (R23). */
        allowInsecureHttp: Type.Optional(Type.Boolean()),
        /**
         * Addresses (or CIDR ranges) of the TLS-terminating proxies whose X-Forwarded-For is
         * believed: per-address limits then count the client, not the proxy.
         */
        trustProxy: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        tls: Type.Optional(
          Type.Object({ certFile: Type.String(), keyFile: Type.String() }, { additionalProperties: false }),
        ),
      },
      { additionalProperties: false },
    ),
    verifier: Type.Optional(
      Type.Object(
        {
          id: ParticipantId,
          keyFile: Type.String(),
          /** File with 32+ random bytes (base64url) keying the code hashes; generated if missing. */
          secretFile: Type.String(),
          sms: Type.Optional(
            Type.Union([Type.Object({ gateway: SmsGatewayConfig }), Type.Literal('dev-outbox')]),
          ),
          email: Type.Optional(Type.Union([Type.Object({ smtp: SmtpConfig }), Type.Literal('dev-outbox')])),
          devOutboxFile: Type.Optional(Type.String()),
          /** R29: dns-01 challenges for native identifiers, looked up through these resolvers (default: the system's). */
          dns01: Type.Optional(
            Type.Object(
              {
                servers: Type.Optional(
                  Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 8 }),
                ),
                timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30_000 })),
              },
              { additionalProperties: false },
            ),
          ),
          codeTtlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: 3600 })),
          maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
          maxChallengesPerHour: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    policy: Type.Optional(
      Type.Object(
        {
          trustedIssuers: Type.Optional(Type.Array(ParticipantId)),
          requireIndependentVerifier: Type.Optional(Type.Boolean()),
          contestWindowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Federation with the registry's other DPs (R10-R13, R18, R20). */
    federation: Type.Optional(
      Type.Object(
        {
          /** What `dpList: "preferred"` means; default: every other DP of the registry. */
          preferredPeers: Type.Optional(Type.Array(ParticipantId)),
          peerTimeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 30_000 })),
          breakerFailures: Type.Optional(Type.Integer({ minimum: 1 })),
          breakerCooldownMs: Type.Optional(Type.Integer({ minimum: 100 })),
          /** Largest peer answer accepted per CSI asked, in bytes. */
          maxAnswerBytesPerCsi: Type.Optional(Type.Integer({ minimum: 1024 })),
          outboxIntervalMs: Type.Optional(Type.Integer({ minimum: 10 })),
          outboxMaxBackoffMs: Type.Optional(Type.Integer({ minimum: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Private lookup (R9, R22, R26, R28): RFC 9497 OPRF, key epochs, budgets. */
    privateLookup: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          /** 32 random bytes (base64url) sealing the OPRF epoch keys; default oprf.kek next to the DP key. */
          kekFile: Type.Optional(Type.String()),
          kAnonymity: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
          rotationSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
          overlapSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
          buildBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          maxEvaluateBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          /** Evaluations per MSP session credential per window. */
          mspEvaluations: Type.Optional(EvaluationBudget),
          /** Evaluations per client address without a credential, per window. */
          anonymousEvaluations: Type.Optional(EvaluationBudget),
          /**
           * Elements evaluated on Privacy Pass tokens, per issuing MSP (all its users together),
           * per window: the DP's own bound on an issuer that hands out too many tokens.
           */
          tokenEvaluations: Type.Optional(EvaluationBudget),
          /**
           * No anonymous tier: an evaluation without a credential is refused (401, with the
           * PrivateToken challenges) instead of being charged to the client's address.
           */
          requireCredential: Type.Optional(Type.Boolean()),
          /** Bucket downloads per client address per minute. */
          bucketRequestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Oblivious HTTP gateway (RFC 9458) in front of the private lookup (R9, R26): POST /v1/ohttp
     * and GET /v1/ohttp/keys. Needs privateLookup.
     */
    ohttp: Type.Optional(
      Type.Object(
        {
          /**
           * The live gateway keys, the announced (newest) first; list the old one second while
           * clients still hold it (rotation with an overlap). Each file holds 32 random bytes
           * (base64url), the key's X25519 private key, created on first use. Every node of a DP
           * needs the same files.
           */
          keys: Type.Array(
            Type.Object(
              { id: Type.Integer({ minimum: 0, maximum: 255 }), file: Type.String({ minLength: 1 }) },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 4 },
          ),
          /** How far the inner request's Date may be from this node's clock, and how long an encapsulation is remembered against replay (default 60 s). */
          replayWindowSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 3600 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Transparency log (R3, R6, R19, R28): checkpoints, pseudonyms, witnessing of peers. */
    log: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          /** A checkpoint is signed this often while the tree grows (and on demand), in ms. */
          checkpointIntervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
          /**
           * 32 random bytes (base64url) keying every log pseudonym (R28); generated if missing
           * (default: beside the DP key, `<key>.log-pseudonym.key`). Every node of a DP needs the same file.
           */
          pseudonymKeyFile: Type.Optional(Type.String()),
          /** Witness peers' logs: fetch, check consistency, cosign (default on). */
          witness: Type.Optional(Type.Boolean()),
          witnessIntervalMs: Type.Optional(Type.Integer({ minimum: 100 })),
          /** Public log reads (checkpoints, leaves, proofs) per client address per minute. */
          requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /**
           * Bytes of complete subtree hashes kept in memory for proofs (default 16 MiB: every hash
           * of a 250,000-leaf tree); past it, proofs read their subtrees from the store.
           */
          subtreeCacheBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 40 })),
          /** Bytes of verbose answers' proofs kept, per leaf and checkpoint (default 8 MiB). */
          proofCacheBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 40 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** R23 session tokens. */
    sessions: Type.Optional(
      Type.Object(
        {
          /**
           * 32 random bytes (base64url) keying the session tokens' HMAC; generated if missing
           * (default: beside the DP key, `<key>.session.key`). Every node of a DP needs the same
           * file, so a token issued by one node is accepted by all.
           */
          secretFile: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    /** Metrics, health and shutdown (docs/operations.md, "Metrics, logs and health" and "Shutdown"). */
    operations: Type.Optional(
      Type.Object(
        {
          /** A second listener for /metrics, /healthz and /readyz; none when absent. */
          listen: Type.Optional(
            Type.Object(
              {
                /** Default 127.0.0.1: metrics are for the operator, not the public. */
                host: Type.Optional(Type.String({ minLength: 1 })),
                port: Type.Integer({ minimum: 0, maximum: 65535 }),
              },
              { additionalProperties: false },
            ),
          ),
          /** How long in-flight requests may run on after SIGTERM before their connections are closed. */
          shutdownTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
          /** How long /readyz waits for the store's answer before calling it unavailable. */
          readyTimeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** R29: DNS for native identifiers: the zones this node holds, served by `dns serve` or exported. */
    dns: Type.Optional(
      Type.Object(
        {
          /** Where `dns serve` answers, UDP and TCP (default 127.0.0.1, port 53). */
          listen: Type.Optional(
            Type.Object(
              { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) },
              { additionalProperties: false },
            ),
          ),
          /** How often the zones are rebuilt from the store, in ms (default 1000). */
          refreshMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
          /** Largest UDP answer (EDNS(0)), default 1232. */
          maxUdpPayload: Type.Optional(Type.Integer({ minimum: 512, maximum: 4096 })),
          zones: Type.Array(
            Type.Object(
              {
                name: Type.String({ minLength: 1, maxLength: 253 }),
                nameServers: Type.Array(
                  Type.Object(
                    {
                      name: Type.String({ minLength: 1, maxLength: 253 }),
                      addresses: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 45 }))),
                    },
                    { additionalProperties: false },
                  ),
                  { minItems: 1, maxItems: 13 },
                ),
                hostmaster: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
                ttl: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
                negativeTtl: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
                /** 32 random bytes (base64url) keying the labels (hard-to-guess identifiers); generated if missing. */
                labelKeyFile: Type.Optional(Type.String()),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 1000 },
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** Where rate-limit counters live: in memory per node by default, in Redis to share them between nodes. */
    rateLimits: Type.Optional(
      Type.Object(
        {
          redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://' })),
          /** Prefix of the counter keys; every node of one DP must use the same (default mimi:<dp id>). */
          keyPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
          maxBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          /** Submissions per POST /v1/mappings/batch (bulk onboarding). */
          maxSubmissionBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          /** Body limit of POST /v1/mappings/batch, in bytes (other routes keep maxBodyBytes). */
          maxSubmissionBatchBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 })),
          /** Points per minute per authenticated caller; a lookup costs one point per CSI. */
          callerPointsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /** R12: points per minute per caller for non-default (federated) lookups, one per CSI. */
          nonDefaultPointsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /** R13: CSIs per minute one peer DP may have us look up for it. */
          peerPointsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /** Requests per minute per client address on unauthenticated routes. */
          anonymousPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /** R22: the whole request, headers and body, from its first byte (node's requestTimeout). */
          requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** The request line and headers, from the first byte; at most requestTimeoutMs. */
          headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** Reading the body, from the end of the headers; at most requestTimeoutMs. */
          bodyTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** How long an idle keep-alive connection stays open between requests. */
          keepAliveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** Open connections one client address may hold; more are answered 429 and closed. */
          maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          /**
           * R22: CSIs one MSP may look up (POST /v1/lookup) per minute and per day when its registry
           * entry has no lookupBudget (default 1,000 and 100,000, the private path's daily budget).
           */
          mspLookupPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          mspLookupPerDay: Type.Optional(Type.Integer({ minimum: 1 })),
          /** R22: when an MSP's lookups look like enumeration, and how much its budget is cut. */
          lookupReputation: Type.Optional(
            Type.Object(
              {
                windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
                maxSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
                minSamples: Type.Optional(Type.Integer({ minimum: 1 })),
                maxMissRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
                maxSequentialShare: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
                sequentialDistance: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
                slowdownFactor: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NodeConfig = Static<typeof NodeConfig>;

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

export function limitsOf(config: NodeConfig): Limits {
  const requestTimeoutMs = config.limits?.requestTimeoutMs ?? 10_000;
  return {
    maxBodyBytes: config.limits?.maxBodyBytes ?? 64 * 1024,
    maxBatch: config.limits?.maxBatch ?? 100,
    maxSubmissionBatch: config.limits?.maxSubmissionBatch ?? 500,
    maxSubmissionBatchBytes: config.limits?.maxSubmissionBatchBytes ?? 2 * 1024 * 1024,
    callerPointsPerMinute: config.limits?.callerPointsPerMinute ?? 600_000,
    anonymousPerMinute: config.limits?.anonymousPerMinute ?? 120,
    nonDefaultPointsPerMinute: config.limits?.nonDefaultPointsPerMinute ?? 60_000,
    peerPointsPerMinute: config.limits?.peerPointsPerMinute ?? 600_000,
    requestTimeoutMs,
    // Defaults below the whole-request bound, so a smaller requestTimeoutMs alone stays valid.
    headersTimeoutMs: config.limits?.headersTimeoutMs ?? Math.min(5_000, requestTimeoutMs),
    bodyTimeoutMs: config.limits?.bodyTimeoutMs ?? requestTimeoutMs,
    // A few seconds: an idle connection costs a socket, and clients reconnect cheaply.
    keepAliveTimeoutMs: config.limits?.keepAliveTimeoutMs ?? 5_000,
    // Room for a busy client (the benches use 16 connections, tests many more) but not for 1,500.
    maxConnectionsPerAddress: config.limits?.maxConnectionsPerAddress ?? 256,
    // Strict: the private path grants an MSP 100,000 evaluations a day, and a plain lookup tells
    // more (the mapping itself), so an MSP without a registry tier gets no more. The minute
    // budget is 10 full batches, for a contact sync's burst.
    mspLookup: {
      perMinute: config.limits?.mspLookupPerMinute ?? 1_000,
      perDay: config.limits?.mspLookupPerDay ?? 100_000,
    },
    lookupReputation: { ...defaultReputationSettings, ...config.limits?.lookupReputation },
  };
}

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
      throw new MimiError('config-invalid', 'MIMI_STORE_PATH: store.backend is postgres; set MIMI_STORE_URL');
    if (c.store !== undefined) c.store.path = v;
  },
  MIMI_STORE_URL: (c, v) => {
    if (c.store?.backend !== 'postgres')
      throw new MimiError('config-invalid', 'MIMI_STORE_URL: applies only when store.backend is postgres');
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

export interface LoadedConfig {
  config: NodeConfig;
  /** Folder of the config file: relative paths resolve against it. */
  baseDir: string;
  path(p: string): string;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MimiError('config-invalid', `cannot read config ${file}: ${(err as Error).message}`);
  }
  for (const [name, apply] of Object.entries(envOverrides)) {
    const v = env[name];
    if (v !== undefined && typeof raw === 'object' && raw !== null) apply(raw as NodeConfig, v);
  }
  const config = checkConfig(raw, file);
  const baseDir = dirname(resolve(file));
  return { config, baseDir, path: (p) => (isAbsolute(p) || p.startsWith(':') ? p : resolve(baseDir, p)) };
}

export function checkConfig(raw: unknown, where = 'config'): NodeConfig {
  let config: NodeConfig;
  try {
    // The store first, against its backend's schema: an error then names the setting, not "union".
    const store = (raw as { store?: { backend?: unknown } } | null)?.store;
    const schema = storeSchemas[store?.backend as keyof typeof storeSchemas];
    if (typeof store === 'object' && store !== null && schema === undefined) {
      throw new MimiError('config-invalid', 'config/store/backend: must be "sqlite" or "postgres"');
    }
    if (schema !== undefined) decodeRecord(schema, store, 'config/store');
    const regions = (raw as { residency?: { regions?: unknown } } | null)?.residency?.regions;
    if (Array.isArray(regions)) {
      regions.forEach((r: { store?: { backend?: unknown } } | null, i) => {
        const s = storeSchemas[r?.store?.backend as keyof typeof storeSchemas];
        if (s !== undefined) decodeRecord(s, r?.store, `config/residency/regions/${i}/store`);
      });
    }
    config = decodeRecord(NodeConfig, raw, 'config');
  } catch (err) {
    throw new MimiError('config-invalid', `${where}: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (config.residency !== undefined) checkResidencyRules(config.residency, `${where}: residency`);
  const limits = limitsOf(config);
  for (const name of ['headersTimeoutMs', 'bodyTimeoutMs'] as const) {
    if (limits[name] > limits.requestTimeoutMs) {
      throw new MimiError(
        'config-invalid',
        `${where}: limits.${name} (${limits[name]}) must not exceed limits.requestTimeoutMs (${limits.requestTimeoutMs})`,
      );
    }
  }
  if ((config.dp.keyFile === undefined) === (config.dp.keyFiles === undefined)) {
    throw new MimiError(
      'config-invalid',
      `${where}: dp: set keyFiles (one key per usage) or keyFile, one of them`,
    );
  }
  const v = config.verifier;
  if (!config.dev && (v?.sms === 'dev-outbox' || v?.email === 'dev-outbox')) {
    throw new MimiError(
      'config-invalid',
      `${where}: verifier dev-outbox channels are allowed only in a config with "dev": true`,
    );
  }
  return config;
}
