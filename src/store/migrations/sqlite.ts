/**
 * Versioned SQLite migrations, applied in order inside one transaction each. Never edit a
 * migration that has shipped: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'mappings, holder keys, challenges, request ids',
    sql: `
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
  },
];
