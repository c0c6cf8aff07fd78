import { type Static, Type } from '@sinclair/typebox';
import { ParticipantId, PublicKeyB64 } from '../protocol/records.js';

/**
 * The node's and the relay's config file schemas (JSON): what may be written, never what is
 * assumed when it is not (every default is in config-defaults.ts). Reading and checking:
 * config.ts and relay.ts. Over 400 lines because the node's is one declaration, each setting
 * with its bounds and the comment operators read.
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
     * Bytes of the database file the read connection maps (default 0: none). Mapped pages count
     * in the node's RSS as file-backed pages (the kernel's page cache, reclaimable); without the
     * map, SQLite reads pages with pread into its own cache, and the kernel still caches the file.
     */
    mmapBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 46 })),
    /** Bytes of SQLite's own page cache on the read connection (default 8 MiB; heap memory). */
    cacheBytes: Type.Optional(Type.Integer({ minimum: 1 << 20, maximum: 2 ** 40 })),
    /**
     * Bytes of the node's cache of served rows by CSI (default 32 MiB, about 140,000 one-row CSIs; 0: none; heap memory):
     * lookups of a CSI seen recently read no database. SQLite only, where this node is the
     * only writer and so sees every change (src/dp/served-cache.ts).
     */
    servedCacheBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 40 })),
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
    /** How long a request waits for a connection (default 5000). */
    connectionTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    /** Times one write runs when it loses a race to another node's transaction (default 5). */
    maxWriteAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    /** How often a node tries the leadership roles it does not lead (default 1000). */
    leadershipRetryMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000 })),
    /** Session settings, e.g. { "statement_timeout": "10s", "lock_timeout": "5s" }. */
    settings: Type.Optional(
      Type.Record(Type.RegExp(/^[a-z_][a-z0-9_.]*$/), Type.String({ pattern: '^[A-Za-z0-9_.:-]+$' }), {
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
);

export const storeSchemas = { sqlite: SqliteStoreConfig, postgres: PostgresStoreConfig } as const;

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

/** Where a node or the relay listens (src/server/listen-address.ts checks it, R23). */
export const listenFields = {
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  /** Plain HTTP on a non-loopback address is refused unless this is set (R23). */
  allowInsecureHttp: Type.Optional(Type.Boolean()),
};

/** The registry a node or the relay trusts, checked against its pinned key and refreshed. */
export const RegistryConfig = Type.Object(
  {
    location: Type.String({ minLength: 1 }),
    pinnedKey: PublicKeyB64,
    /** How often the registry is loaded again, in seconds (default 300). */
    refreshSeconds: Type.Optional(Type.Integer({ minimum: 10 })),
    /** Largest registry document taken, file or URL, in bytes (default 4 MiB). */
    maxBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 2 ** 30 })),
  },
  { additionalProperties: false },
);
export type RegistryConfig = Static<typeof RegistryConfig>;

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
    registry: RegistryConfig,
    store: Type.Union([SqliteStoreConfig, PostgresStoreConfig]),
    residency: Type.Optional(ResidencyConfig),
    listen: Type.Object(
      {
        ...listenFields,
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
          /** Digits of a one-time code (default 6; ChallengeAnswer takes 6 to 10, records.ts). */
          codeDigits: Type.Optional(Type.Integer({ minimum: 6, maximum: 10 })),
          maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
          maxChallengesPerHour: Type.Optional(Type.Integer({ minimum: 1 })),
          /** How long an attestation this verifier signs is valid (default 365 days). */
          attestationLifetimeSeconds: Type.Optional(
            Type.Integer({ minimum: 60, maximum: 10 * 365 * 86_400 }),
          ),
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
          /** The outbox's first retry backoff, doubled at each failure up to outboxMaxBackoffMs (default 250). */
          outboxBaseBackoffMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
          /** How long one outbox delivery (a peer's event, an MSP's webhook) may take (default 5000). */
          outboxTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
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
          /**
           * Bytes of verbose answers' proofs kept, per leaf and checkpoint (default 0: none; worth
           * setting only where the same mappings are looked up again before the next checkpoint).
           */
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
          /**
           * How long a session token is good for, in seconds (default 3600; published at
           * /.well-known/mimi-discovery as sessionTtlSeconds). A token cannot be revoked before.
           */
          ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400 })),
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
          /**
           * V8's heap growth between collections, in percent, set by `serve` at start (issue 16:
           * bounded memory); 0 leaves V8 to size the heap for the machine. Default 20.
           */
          heapGrowingPercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
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
                /** TTL of the identifier records, in seconds (default 60: an invalidation leaves caches within a minute). */
                ttl: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
                /** Negative-answer TTL (RFC 2308), the SOA MINIMUM, in seconds (default 30). */
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

/**
 * The Oblivious HTTP relay's config file (`mimi-discovery relay --config FILE`, src/server/relay.ts);
 * its defaults are relayDefaults (config-defaults.ts).
 */
export const RelayConfig = Type.Object(
  {
    /** R23: as a node's, a non-loopback address needs TLS in front (a TLS proxy). */
    listen: Type.Object(listenFields, { additionalProperties: false }),
    registry: RegistryConfig,
    limits: Type.Optional(
      Type.Object(
        {
          /** Largest encapsulated request (default 256 KiB). */
          maxRequestBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
          /** Largest answer taken from a gateway (default 32 MiB: a batch of buckets). */
          maxResponseBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 })),
          /** Requests per client address per minute (default 1200). */
          requestsPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          /** How long a gateway may take (default 15 s). */
          timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The local address the relay connects to gateways from (default: the system's choice). */
    egressAddress: Type.Optional(Type.String({ minLength: 2, maxLength: 45 })),
  },
  { additionalProperties: false },
);
export type RelayConfig = Static<typeof RelayConfig>;
