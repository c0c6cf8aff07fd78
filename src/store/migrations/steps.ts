/**
 * The schema's versions, declared once for both backends: each step's name here, its SQL per
 * dialect in ./sqlite.ts and ./postgres.ts (a `Record` over the versions, so a step cannot compile
 * without both). test/store/migrations-match.test.ts applies both and compares the schemas.
 * Never edit a migration that has shipped: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrationSteps = {
  1: 'mappings, holder keys, challenges, request ids',
  2: 'private lookup: OPRF key epochs and the private index (R9, R22, R28)',
  3: 'federation: durable outbox and CSIP number events (R16, R18, R24)',
  4: 'transparency log: leaves, tree state, subtree cache, checkpoints, witnessing (R3, R28)',
  5: 'request ids: an index on expiry (peer nonces purge expired ids on every write)',
  6: 'spent Privacy Pass tokens (double-spend check): key id and nonce until the key expires',
} as const;
export type MigrationVersion = keyof typeof migrationSteps;

/** SQL the two dialects share. */
export const sharedSql = {
  /** Version 5 (PostgreSQL made this index in version 1 already; IF NOT EXISTS keeps both in step). */
  seenRequestsExpiry: 'CREATE INDEX IF NOT EXISTS seen_requests_expiry ON seen_requests (expires_at);',
} as const;

/** One dialect's migrations, in version order, from its SQL for every step. */
export function inDialect(sql: Readonly<Record<MigrationVersion, string>>): readonly Migration[] {
  return (Object.keys(migrationSteps) as `${MigrationVersion}`[])
    .map(Number)
    .sort((a, b) => a - b)
    .map((v) => ({
      version: v,
      name: migrationSteps[v as MigrationVersion],
      sql: sql[v as MigrationVersion],
    }));
}
