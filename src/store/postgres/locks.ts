/**
 * PostgreSQL advisory lock spaces. Every lock this project takes uses the two-key form
 * `pg_advisory_(xact_)lock(space, key)`, so spaces never collide with each other, nor with
 * single-bigint locks that other software on the same database may take. Add a space here for
 * each new kind of lock (the log sequencer, the outbox worker, ...).
 */
export const LockSpace = {
  /** Schema migrations; key: hashtext(schema). Session lock, held while migrating. */
  Migrations: 0x4d4d0001,
  /** One CSI's records; key: hashtext(csi). Transaction lock, taken at a write's first use of the CSI. */
  Csi: 0x4d4d0002,
  /** As a witness, one peer DP's log; key: hashtext(dp id). Transaction lock. */
  Witness: 0x4d4d0003,
  /**
   * Leadership of one of the node's single-at-a-time jobs (src/store/postgres/leadership.ts);
   * key: hashtext('<schema>/<role>'). Session lock, held on the leadership connection for as
   * long as the node leads the role.
   */
  Leader: 0x4d4d0004,
} as const;
export type LockSpace = (typeof LockSpace)[keyof typeof LockSpace];
