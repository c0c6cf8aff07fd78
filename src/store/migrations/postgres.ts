import { inDialect, sharedSql } from './steps.js';

/**
 * Versioned PostgreSQL migrations: the same versions and tables as the SQLite ones
 * (./sqlite.ts), in PostgreSQL's native types, applied in order, one transaction each, under an
 * advisory lock so that nodes starting together migrate once. Never edit a migration that has
 * shipped: add the next step (./steps.ts) and its SQL here and in sqlite.ts.
 *
 * Types: times are bigint (seconds, or milliseconds where the column says so in the SQLite
 * schema), flags boolean, key material and private-index cells bytea. The signed mapping stays
 * text, not jsonb: it is served byte for byte as signed (RFC 8785), and jsonb would reorder it.
 * Identifier columns use the "C" collation, so range scans (`csi > $1 ORDER BY csi`) order
 * bytewise as in SQLite, whatever the database's locale.
 */
export const postgresMigrations = inDialect({
  1: `
      CREATE TABLE mappings (
        id text COLLATE "C" PRIMARY KEY,
        csi text COLLATE "C" NOT NULL,
        holder_group text NOT NULL,
        holder_key text NOT NULL,
        msp text,
        tag text NOT NULL,
        priority integer NOT NULL,
        opt_out boolean NOT NULL,
        level text NOT NULL,
        state text NOT NULL,
        accepted_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        contest_deadline bigint,
        body_digest text NOT NULL UNIQUE,
        json text NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE INDEX mappings_csi_state ON mappings (csi, state);
      CREATE INDEX mappings_contest_due ON mappings (contest_deadline) WHERE state = 'contested';

      CREATE TABLE holder_keys (
        csi text COLLATE "C" NOT NULL,
        key text NOT NULL,
        grp text NOT NULL,
        retired boolean NOT NULL DEFAULT false,
        PRIMARY KEY (csi, key)
      );

      CREATE TABLE challenges (
        id text PRIMARY KEY,
        csi text COLLATE "C" NOT NULL,
        holder_key text NOT NULL,
        method text NOT NULL,
        code_hash text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        attempts integer NOT NULL,
        state text NOT NULL
      );
      CREATE INDEX challenges_csi_created ON challenges (csi, created_at);

      CREATE TABLE seen_requests (
        id text PRIMARY KEY,
        expires_at bigint NOT NULL
      );
      -- The purge deletes expired ids in small batches; without this it would scan the table.
      CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);
    `,
  2: `
      CREATE TABLE oprf_epochs (
        id integer PRIMARY KEY,
        state text NOT NULL,
        sealed_key bytea NOT NULL,
        public_key bytea NOT NULL,
        bucket_bits integer NOT NULL,
        pad_to integer NOT NULL,
        dummy_length integer NOT NULL,
        min_bucket integer,
        build_cursor text COLLATE "C",
        created_at bigint NOT NULL,
        activated_at bigint,
        retire_at bigint
      );

      -- No CSI and no OPRF output here (R28): only the bucket key, the tag and the sealed answer.
      -- bucket_key is an unsigned 32-bit integer, hence bigint.
      CREATE TABLE private_index (
        epoch integer NOT NULL,
        bucket_key bigint NOT NULL,
        tag bytea NOT NULL,
        payload bytea NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (epoch, bucket_key, tag)
      );

      -- The private index is re-sealed when a served mapping expires.
      CREATE INDEX mappings_active_expiry ON mappings (expires_at) WHERE state = 'active';
    `,
  3: `
      -- One row per event and target, written in the same transaction as the change it
      -- announces; retried with backoff until acknowledged. Times in milliseconds.
      CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target text NOT NULL,
        event_id text NOT NULL,
        body text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_at bigint NOT NULL,
        created_at bigint NOT NULL,
        delivered_at bigint,
        last_error text,
        UNIQUE (target, event_id)
      );
      CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL;

      CREATE TABLE csip_events (
        id text PRIMARY KEY,
        csi text COLLATE "C" NOT NULL,
        kind text NOT NULL,
        at bigint NOT NULL,
        json text NOT NULL,
        received_at bigint NOT NULL
      );
      CREATE INDEX csip_events_csi ON csip_events (csi, at);
    `,
  4: `
      -- One row per leaf, appended in the same transaction as the change it logs. No CSI here (R28).
      CREATE TABLE log_leaves (
        idx bigint PRIMARY KEY,
        hash bytea NOT NULL,
        data bytea NOT NULL,
        time bigint NOT NULL
      );
      -- RFC 9162 get-proof-by-hash.
      CREATE INDEX log_leaves_hash ON log_leaves (hash);

      -- Hashes of complete subtrees of 2^level leaves (level >= 1); id = level * 2^47 + (first leaf >> level).
      CREATE TABLE log_nodes (
        id bigint PRIMARY KEY,
        hash bytea NOT NULL
      );

      -- The compact range (right edge) of the whole tree: one 32-byte root per set bit of size.
      -- Its one row is also what serialises appends from every node (read FOR UPDATE).
      CREATE TABLE log_head (
        id integer PRIMARY KEY CHECK (id = 1),
        size bigint NOT NULL,
        edge bytea NOT NULL
      );
      INSERT INTO log_head (id, size, edge) VALUES (1, 0, '\\x');

      CREATE TABLE log_checkpoints (
        size bigint PRIMARY KEY,
        root bytea NOT NULL,
        note text NOT NULL,
        created_at bigint NOT NULL,
        cosigned integer NOT NULL DEFAULT 0
      );
      CREATE INDEX log_checkpoints_cosigned ON log_checkpoints (size) WHERE cosigned > 0;
      CREATE TABLE log_cosignatures (
        size bigint NOT NULL,
        witness text COLLATE "C" NOT NULL,
        line text NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (size, witness)
      );

      CREATE TABLE log_witnessed (
        dp text COLLATE "C" PRIMARY KEY,
        size bigint NOT NULL,
        root bytea NOT NULL,
        note text NOT NULL,
        seen_at bigint NOT NULL
      );
      CREATE TABLE log_forks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        dp text NOT NULL,
        detected_at bigint NOT NULL,
        reason text NOT NULL,
        evidence text NOT NULL
      );
    `,
  5: sharedSql.seenRequestsExpiry,
  6: `
      CREATE TABLE spent_tokens (
        key_id text COLLATE "C" NOT NULL,
        nonce text COLLATE "C" NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (key_id, nonce)
      );
      CREATE INDEX spent_tokens_expiry ON spent_tokens (expires_at);
    `,
});
