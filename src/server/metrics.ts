import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { MspReputation } from './lookup-budget.js';

/**
 * Prometheus metrics of one node (issue 6 §5), in a registry of its own rather than prom-client's
 * global one, so several nodes can live in one process (tests, devnet).
 *
 * Labels never carry a CSI, a caller id or an address: routes are fastify's route patterns
 * (`/v1/mappings/:id`, never the URL asked), problems are stable error codes, budgets are names,
 * peers, outbox targets and the MSPs of the lookup reputation gauges are participants of the
 * registry (a bounded, public set).
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestSeconds: Histogram<'route' | 'method'>;
  readonly rejects: Counter<'code'>;
  readonly rateLimited: Counter<'budget'>;
  /** Privacy Pass redemptions by outcome (`redeemed`, or the refusal's code); no other label. */
  readonly privateTokens: Counter<'outcome'>;
  readonly storeSeconds: Histogram<'operation' | 'outcome'>;
  readonly peerCalls: Counter<'peer' | 'outcome'>;
  readonly outboxDeliveries: Counter<'target' | 'outcome'>;
  readonly servedCache: Counter<'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'mimi_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'mimi_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern and method',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rejects = new Counter({
      name: 'mimi_rejects_total',
      help: 'Requests answered with a problem document, by problem code',
      labelNames: ['code'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'mimi_rate_limited_total',
      help: 'Requests refused by a rate limit, by budget',
      labelNames: ['budget'],
      registers,
    });
    this.privateTokens = new Counter({
      name: 'mimi_private_tokens_total',
      help: 'Privacy Pass tokens presented on private evaluations, by outcome (redeemed, or the refusal code such as token-spent)',
      labelNames: ['outcome'],
      registers,
    });
    this.storeSeconds = new Histogram({
      name: 'mimi_store_operation_duration_seconds',
      help: 'Time of store operations (write transactions and reads), by operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.peerCalls = new Counter({
      name: 'mimi_peer_calls_total',
      help: 'Federated lookups forwarded to a peer DP, by peer and outcome',
      labelNames: ['peer', 'outcome'],
      registers,
    });
    this.outboxDeliveries = new Counter({
      name: 'mimi_outbox_deliveries_total',
      help: 'Outbox delivery attempts, by target (peer DP or webhook:<msp>) and outcome',
      labelNames: ['target', 'outcome'],
      registers,
    });
    this.servedCache = new Counter({
      name: 'mimi_served_cache_csis_total',
      help: 'CSIs of lookups answered from the served-rows cache (hit) or read from the store (miss)',
      labelNames: ['outcome'],
      registers,
    });
    // Gauges read at scrape time from their source, so they are never stale.
    new Gauge({
      name: 'mimi_outbox_depth',
      help: 'Undelivered outbox events, by target',
      labelNames: ['target'],
      registers,
      async collect() {
        this.reset();
        try {
          for (const [target, n] of Object.entries(await sources.outboxDepth())) this.set({ target }, n);
        } catch {
          // Store unreachable: no samples this scrape (readiness and the store metrics say why).
        }
      },
    });
    const states = ['closed', 'open', 'half-open'] as const;
    new Gauge({
      name: 'mimi_peer_circuit_state',
      help: "Circuit breaker of each peer DP: 1 for the breaker's current state, 0 for the others",
      labelNames: ['peer', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { peer, state } of sources.peers()) {
          for (const s of states) this.set({ peer, state: s }, s === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'mimi_ready',
      help: '1 while the node answers /readyz with 200, else 0',
      registers,
      async collect() {
        this.set((await sources.ready()) ? 1 : 0);
      },
    });
    // R22: the lookup reputation of each MSP seen (src/server/lookup-budget.ts).
    const reputation = (name: string, help: string, value: (r: MspReputation) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['msp'],
        registers,
        collect() {
          this.reset();
          for (const r of sources.mspReputation?.() ?? []) this.set({ msp: r.msp }, value(r));
        },
      });
    reputation(
      'mimi_msp_lookup_miss_ratio',
      "Share of an MSP's recently looked-up CSIs with nothing served, by MSP",
      (r) => r.missRatio,
    );
    reputation(
      'mimi_msp_lookup_sequential_share',
      "Share of an MSP's recently looked-up numbers near another number it looked up, by MSP",
      (r) => r.sequentialShare,
    );
    reputation(
      'mimi_msp_lookup_slowed',
      "1 while an MSP's lookup budget is cut for its reputation, else 0, by MSP",
      (r) => (r.slowed ? 1 : 0),
    );
    new Gauge({
      name: 'mimi_cache_bytes',
      help: 'Bytes held by each bounded cache (sized in config), by cache',
      labelNames: ['cache'],
      registers,
      collect() {
        this.reset();
        for (const [cache, bytes] of Object.entries(sources.cacheBytes?.() ?? {})) this.set({ cache }, bytes);
      },
    });
    new Gauge({
      name: 'mimi_leader',
      help: 'Single-at-a-time roles this node holds now (1) or not (0), by role',
      labelNames: ['role'],
      registers,
      collect() {
        this.reset();
        for (const [role, held] of Object.entries(sources.leadership?.() ?? {})) {
          this.set({ role }, held ? 1 : 0);
        }
      },
    });
  }

  /** Counts a rate-limit refusal of `budget` (R22). */
  countRateLimited(budget: string): void {
    this.rateLimited.inc({ budget });
  }

  /** Counts one token presented on POST /v1/private/evaluate, by outcome. */
  countTokenOutcome(outcome: string): void {
    this.privateTokens.inc({ outcome });
  }

  /** Times `run` into mimi_store_operation_duration_seconds{operation}. */
  async timeStore<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const value = await run();
      this.storeChild(operation, 'ok').observe((performance.now() - start) / 1000);
      return value;
    } catch (err) {
      this.storeChild(operation, 'error').observe((performance.now() - start) / 1000);
      throw err;
    }
  }

  /** Counts one answered request into mimi_http_requests_total and its duration histogram. */
  countRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let c = this.requestChildren.get(key);
    if (c === undefined) {
      c = {
        count: this.requests.labels({ route, method, status: String(status) }),
        seconds: this.requestSeconds.labels({ route, method }),
      };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.seconds.observe(seconds);
  }

  // The labelled children of the hot metrics, made once per label set: prom-client hashes a
  // label object on every call otherwise. Label values are route patterns, methods, statuses and
  // operation names, a bounded set.
  private readonly requestChildren = new Map<
    string,
    {
      count: Counter.Internal;
      seconds: Histogram.Internal<'route' | 'method'>;
    }
  >();
  private readonly storeChildren = new Map<string, Histogram.Internal<'operation' | 'outcome'>>();

  private storeChild(
    operation: string,
    outcome: 'ok' | 'error',
  ): Histogram.Internal<'operation' | 'outcome'> {
    const key = `${outcome} ${operation}`;
    let child = this.storeChildren.get(key);
    if (child === undefined) {
      child = this.storeSeconds.labels({ operation, outcome });
      this.storeChildren.set(key, child);
    }
    return child;
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Where the scrape-time gauges read from. */
export interface MetricsSources {
  outboxDepth(): Promise<Record<string, number>>;
  peers(): { peer: string; state: string }[];
  ready(): Promise<boolean>;
  /** Roles this node holds, when the node runs single-at-a-time jobs under leader election. */
  leadership?: () => Record<string, boolean>;
  /** R22: the lookup reputation of the MSPs this node has seen. */
  mspReputation?: () => MspReputation[];
  /** Bytes held by each bounded cache, by name. */
  cacheBytes?: () => Record<string, number>;
}
