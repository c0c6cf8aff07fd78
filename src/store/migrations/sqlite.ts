import { inDialect, sharedSql } from './steps.js';

/** The SQLite migrations (STRICT tables), applied in order inside one transaction each (./steps.ts). */
export const sqliteMigrations = inDialect({
  1: `
      CREATE TABLE mappings (
        id TEXT PRIMARY KEY,
        csi TEXT NOT NULL,
        holder_group TEXT NOT NULL,
        holder_key TEXT NOT NULL,
        msp TEXT,
        tag TEXT NOT NULL,
        priority INTEGER NOT NULL,
        opt_out INTEGER NOT NULL,
        level TEXT NOT NULL,
        state TEXT NOT NULL,
        accepted_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        contest_deadline INTEGER,
        body_digest TEXT NOT NULL UNIQUE,
        json TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX mappings_csi_state ON mappings (csi, state);
      CREATE INDEX mappings_contest_due ON mappings (contest_deadline) WHERE state = 'contested';

      CREATE TABLE holder_keys (
        csi TEXT NOT NULL,
        key TEXT NOT NULL,
        grp TEXT NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (csi, key)
      ) STRICT;

      CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        csi TEXT NOT NULL,
        holder_key TEXT NOT NULL,
        method TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        state TEXT NOT NULL
      ) STRICT;
      CREATE INDEX challenges_csi_created ON challenges (csi, created_at);

      CREATE TABLE seen_requests (
        id TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;
    `,
  2: `
      CREATE TABLE oprf_epochs (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        sealed_key BLOB NOT NULL,
        public_key BLOB NOT NULL,
        bucket_bits INTEGER NOT NULL,
        pad_to INTEGER NOT NULL,
        dummy_length INTEGER NOT NULL,
        min_bucket INTEGER,
        build_cursor TEXT,
        created_at INTEGER NOT NULL,
        activated_at INTEGER,
        retire_at INTEGER
      ) STRICT;

      -- No CSI and no OPRF output here (R28): only the bucket key, the tag and the sealed answer.
      -- Clustered by bucket, so a bucket download reads contiguous rows. The tag and the bucket
      -- key both derive from the OPRF output, so (epoch, tag) is unique too.
      CREATE TABLE private_index (
        epoch INTEGER NOT NULL,
        bucket_key INTEGER NOT NULL,
        tag BLOB NOT NULL,
        payload BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (epoch, bucket_key, tag)
      ) STRICT, WITHOUT ROWID;

      -- The private index is re-sealed when a served mapping expires.
      CREATE INDEX mappings_active_expiry ON mappings (expires_at) WHERE state = 'active';
    `,
  3: `
      -- One row per event and target (a peer DP, or an MSP webhook), written in the same
      -- transaction as the change it announces; retried with backoff until acknowledged.
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        event_id TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER,
        last_error TEXT,
        UNIQUE (target, event_id)
      ) STRICT;
      CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL;

      CREATE TABLE csip_events (
        id TEXT PRIMARY KEY,
        csi TEXT NOT NULL,
        kind TEXT NOT NULL,
        at INTEGER NOT NULL,
        json TEXT NOT NULL,
        received_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX csip_events_csi ON csip_events (csi, at);
    `,
  4: `
      -- One row per leaf, appended in the same transaction as the change it logs. No CSI here (R28).
      CREATE TABLE log_leaves (
        idx INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,
        data BLOB NOT NULL,
        time INTEGER NOT NULL
      ) STRICT;
      -- RFC 9162 get-proof-by-hash.
      CREATE INDEX log_leaves_hash ON log_leaves (hash);

      -- Hashes of complete subtrees of 2^level leaves (level >= 1), written as the tree grows, so a
      -- proof at any size is O(log n) point reads. id = level * 2^47 + (first leaf >> level).
      CREATE TABLE log_nodes (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL
      ) STRICT;

      -- The compact range (right edge) of the whole tree: one 32-byte root per set bit of size.
      CREATE TABLE log_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL,
        edge BLOB NOT NULL
      ) STRICT;
      INSERT INTO log_head (id, size, edge) VALUES (1, 0, x'');

      -- Every signed checkpoint (C2SP signed note), and the witnesses' cosignature lines on it.
      CREATE TABLE log_checkpoints (
        size INTEGER PRIMARY KEY,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        cosigned INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX log_checkpoints_cosigned ON log_checkpoints (size) WHERE cosigned > 0;
      CREATE TABLE log_cosignatures (
        size INTEGER NOT NULL,
        witness TEXT NOT NULL,
        line TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (size, witness)
      ) STRICT;

      -- As a witness: the last consistent checkpoint seen of each peer's log, and fork evidence.
      CREATE TABLE log_witnessed (
        dp TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        seen_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE log_forks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dp TEXT NOT NULL,
        detected_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        evidence TEXT NOT NULL
      ) STRICT;
    `,
  5: sharedSql.seenRequestsExpiry,
  // WITHOUT ROWID: rows are ordered by their random nonce, not by when they were spent.
  6: `
      CREATE TABLE spent_tokens (
        key_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX spent_tokens_expiry ON spent_tokens (expires_at);
    `,
});
