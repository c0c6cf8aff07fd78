/**
 * Leadership of a node's single-at-a-time jobs (R22, DESIGN.md "Storage and scale"): many DP
 * nodes share one store and act as one DP, but some background work must run on one node at a
 * time (two outbox workers would deliver each item twice, two rotations would create two epochs).
 * Each such job is a role; a node runs a role's task only while it leads that role.
 *
 * SQLite serves one node, which leads every role (SingleNodeLeadership). On PostgreSQL a role is
 * a session advisory lock held on a connection of its own (src/store/postgres/leadership.ts):
 * the node holding it leads, the others try again every second, and a node that dies (or loses
 * its connection) loses its roles at once.
 */

/** The jobs that run on one node of a DP at a time. */
export const LeaderRole = {
  /** Delivers the outbox: peer DP events and MSP webhook notices (src/federation/outbox.ts). */
  Outbox: 'outbox',
  /** Signs a checkpoint of the transparency log every interval while it grows (src/dp/transparency-log.ts). */
  Checkpoints: 'log-checkpoints',
  /** Builds, rotates and retires the private index's OPRF epochs (src/dp/private-index.ts). */
  PrivateIndex: 'private-index',
  /** Resolves contests whose window has passed (DiscoveryProvider.resolveContests). */
  Contests: 'contest-sweep',
  /** Witnesses and cosigns peers' logs (src/federation/witness.ts). */
  Witness: 'witness',
} as const;
export type LeaderRole = (typeof LeaderRole)[keyof typeof LeaderRole];

/** What a role runs while this node leads it. */
export interface LeaderTask {
  /** Starts the role's work (its timer); called each time the node becomes leader. */
  start(): void;
  /**
   * Stops it: no new work may begin once this is called (synchronously); the promise resolves
   * when work under way has finished. Called when the role is lost and when the node closes.
   */
  stop(): Promise<void> | void;
}

export interface Leadership {
  /** `single` (one node leads everything) or `postgres` (advisory-lock leases). */
  readonly kind: 'single' | 'postgres';
  /** The name this node shows to the others (on PostgreSQL: its `application_name`). */
  readonly nodeName: string;
  /** Registers the task of a role; it runs whenever this node leads the role. Before start(). */
  add(role: string, task: LeaderTask): void;
  /** Begins taking roles; resolves after the first attempt (a node may lead from its start). */
  start(): Promise<void>;
  isLeader(role: string): boolean;
  /** Every registered role and whether this node leads it now (for metrics and readiness). */
  roles(): Record<string, boolean>;
  /** Stops every task this node runs, then gives its roles up (another node takes them). */
  close(): Promise<void>;
}

/**
 * Registers `task` for `role` in `tasks`. A role registered twice is a mistake in the node's
 * wiring, not a fault at run time: a TypeError (STYLE.md convention 5).
 */
export function addTask(tasks: Map<string, LeaderTask>, role: string, task: LeaderTask): void {
  if (tasks.has(role)) throw new TypeError(`role ${role} is registered twice`);
  tasks.set(role, task);
}

/** Calls a task's stop, never throwing: a failing stop must not keep the other roles running. */
export async function stopTask(task: LeaderTask): Promise<void> {
  try {
    await task.stop();
  } catch {
    // the task's own error handling reports it; leadership goes on
  }
}

/** One node, one store of its own (SQLite): this node leads every role from start to close. */
export class SingleNodeLeadership implements Leadership {
  readonly kind = 'single';
  private readonly tasks = new Map<string, LeaderTask>();
  private started = false;
  private closed = false;

  constructor(readonly nodeName = `mimi:${process.pid}`) {}

  add(role: string, task: LeaderTask): void {
    addTask(this.tasks, role, task);
    if (this.started && !this.closed) task.start();
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const task of this.tasks.values()) task.start();
  }

  isLeader(role: string): boolean {
    return this.started && !this.closed && this.tasks.has(role);
  }

  roles(): Record<string, boolean> {
    return Object.fromEntries([...this.tasks.keys()].map((r) => [r, this.isLeader(r)]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.started) await Promise.all([...this.tasks.values()].map(stopTask));
  }
}
