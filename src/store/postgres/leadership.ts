import pg from 'pg';
import { addTask, type Leadership, type LeaderTask, stopTask } from '../leadership.js';
import { LockSpace } from './locks.js';

export interface PostgresLeadershipOptions {
  /** The store's URL: leadership lives in the database the nodes share. */
  url: string;
  /** The store's schema: DPs sharing one database (in different schemas) never share a role. */
  schema?: string;
  /** The store's session settings (statement_timeout, ...), applied to this connection too. */
  settings?: Readonly<Record<string, string | number>>;
  /** The store's connection timeout; this and `retryMs` come from the resolved config. */
  connectionTimeoutMs: number;
  /**
   * This node's `application_name` on the leadership connection, e.g. `mimi:dp1:4242@host`, so
   * operators see in pg_stat_activity which node leads (at most 63 printable ASCII characters).
   */
  nodeName: string;
  /** How often a node tries to take the roles it does not lead, and checks its connection (ms). */
  retryMs: number;
  /** Told of every change, for logs and metrics. */
  onChange?: (role: string, leading: boolean) => void;
}

/**
 * Server-side keepalives of the leadership session: a node that vanishes without closing its
 * socket (power loss, partition) has its session ended, and its roles freed, after about
 * idle + interval × count = 25 s. The node itself gives its roles up sooner: its heartbeat
 * fails after `retryMs` + the 5 s query timeout. So a node stops before another can start.
 */
const keepalives = { tcp_keepalives_idle: 10, tcp_keepalives_interval: 5, tcp_keepalives_count: 3 };
const queryTimeoutMs = 5000;

/** The advisory-lock key of a role, as `hashtext` is given it: `<schema>/<role>`. */
export function leaderLockName(schema: string | undefined, role: string): string {
  return `${schema ?? 'public'}/${role}`;
}

/**
 * Leases on PostgreSQL (src/store/leadership.ts): a role is led by the node holding the session
 * advisory lock `pg_advisory_lock(LockSpace.Leader, hashtext('<schema>/<role>'))` on its
 * leadership connection, a pg connection of its own outside the store's pool (a pooled
 * connection goes back to the pool between uses; a session lock must stay with one session).
 *
 * Every `retryMs` a node tries `pg_try_advisory_lock` for each role it does not lead, and checks
 * the connection with a statement when it leads any. When the connection breaks (error, end, a
 * statement failing or timing out), the node stops every task it leads at once, before anything
 * else, then reconnects and competes again. PostgreSQL frees the locks of a session that ends, so
 * when a node dies (kill -9 closes its sockets) another takes its roles at its next try, within
 * about `retryMs`. On close, tasks are stopped first and the connection ended after, so a role is
 * handed over only once its work here has finished.
 *
 * Hand-written rather than taken from a package: the lease is one statement on one connection;
 * what matters is the order of stop and release, which a generic lock library does not know.
 */
export class PostgresLeadership implements Leadership {
  readonly kind = 'postgres';
  readonly nodeName: string;
  private readonly opts: PostgresLeadershipOptions;
  private readonly tasks = new Map<string, LeaderTask>();
  private readonly held = new Set<string>();
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(opts: PostgresLeadershipOptions) {
    this.opts = opts;
    // PostgreSQL keeps 63 bytes of application_name and shows anything but printable ASCII as '?'.
    this.nodeName = opts.nodeName.replace(/[^\x20-\x7e]/g, '?').slice(0, 63);
  }

  add(role: string, task: LeaderTask): void {
    addTask(this.tasks, role, task);
  }

  async start(): Promise<void> {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => {
      this.poll().catch(() => undefined);
    }, this.opts.retryMs);
    this.timer.unref();
    await this.poll();
  }

  isLeader(role: string): boolean {
    return this.held.has(role);
  }

  roles(): Record<string, boolean> {
    return Object.fromEntries([...this.tasks.keys()].map((r) => [r, this.held.has(r)]));
  }

  /** One attempt (start() runs one every `retryMs`); one at a time. */
  poll(): Promise<void> {
    this.polling ??= this.attempt().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    let c: pg.Client | undefined;
    try {
      c = this.client ?? (await this.connect());
      if (c === undefined) return;
      // Heartbeat: a connection that died without a word is found here, within one interval.
      if (this.held.size > 0) await c.query('SELECT 1');
      for (const [role, task] of this.tasks) {
        if (this.held.has(role)) continue;
        const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
          LockSpace.Leader,
          leaderLockName(this.opts.schema, role),
        ]);
        // Closed or disconnected meanwhile: the lock goes with the session, nothing starts.
        if (r.rows[0]?.ok !== true || this.closed || c !== this.client) continue;
        this.held.add(role);
        try {
          task.start();
        } catch (err) {
          this.held.delete(role);
          await c.query('SELECT pg_advisory_unlock($1, hashtext($2))', [
            LockSpace.Leader,
            leaderLockName(this.opts.schema, role),
          ]);
          throw err;
        }
        this.opts.onChange?.(role, true);
      }
    } catch {
      // The connection broke, or a statement on it failed: lead nothing until a fresh one wins.
      if (c !== undefined) this.lose(c);
    }
  }

  /** A fresh connection, or undefined when close() came while it was being made. */
  private async connect(): Promise<pg.Client | undefined> {
    const settings = { ...keepalives, ...this.opts.settings };
    const c = new pg.Client({
      connectionString: this.opts.url,
      application_name: this.nodeName,
      connectionTimeoutMillis: this.opts.connectionTimeoutMs,
      query_timeout: queryTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // Names and values were checked by the config schema (and by PostgresStore for the store).
      options: Object.entries(settings)
        .map(([k, v]) => `-c ${k}=${v}`)
        .join(' '),
    });
    // Lost at once: an error or the end of the session means the locks may be gone already.
    c.on('error', () => this.lose(c));
    c.on('end', () => this.lose(c));
    try {
      await c.connect();
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await c.end().catch(() => undefined);
      return undefined;
    }
    this.client = c;
    return c;
  }

  /** The connection `c` is gone or unusable: every role it held is lost; tasks stop first. */
  private lose(c: pg.Client): void {
    if (this.client === c) {
      this.client = undefined;
      for (const role of [...this.held]) {
        this.held.delete(role);
        const task = this.tasks.get(role);
        if (task !== undefined) void stopTask(task);
        this.opts.onChange?.(role, false);
      }
    }
    c.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.polling;
    const stopping = [...this.held].map((role) => stopTask(this.tasks.get(role)!));
    await Promise.all(stopping);
    for (const role of this.held) this.opts.onChange?.(role, false);
    this.held.clear();
    // Ending the session frees its locks: only now may another node take the roles.
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
