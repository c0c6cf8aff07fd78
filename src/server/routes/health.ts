import type { FastifyInstance } from 'fastify';
import { MimiError, toProblem } from '../../protocol/errors.js';
import type { Context } from '../context.js';

/** What /readyz checked; `ok` or the problem code of the check that failed. */
export interface Readiness {
  ready: boolean;
  /** The first failing check's problem code (503). */
  error?: MimiError;
  checks: { store: string; registry: string; shutdown: string };
}

/**
 * Readiness (issue 6 §5): the node takes traffic when it is not shutting down, its registry is
 * loaded and unexpired, and its store answers a one-row read within `operations.readyTimeoutMs`.
 * The store probe is an index lookup of a mapping id that cannot exist: cheap on any table size.
 */
export async function readiness(ctx: Context): Promise<Readiness> {
  const checks = { store: 'ok', registry: 'ok', shutdown: 'ok' };
  const errors: MimiError[] = [];
  if (ctx.lifecycle.draining) {
    checks.shutdown = 'shutting-down';
    errors.push(new MimiError('shutting-down', 'the node is shutting down'));
  }
  try {
    const registry = ctx.registry.current();
    if (registry.doc.expiresAt <= ctx.now()) {
      throw new MimiError('registry-expired', `the registry expired at ${registry.doc.expiresAt}`);
    }
  } catch (err) {
    const e = err instanceof MimiError ? err : new MimiError('registry-unavailable', 'no registry');
    checks.registry = e.code;
    errors.push(e);
  }
  const timeoutMs = ctx.config.resolved.operations.readyTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ctx.store.mapping('readyz-probe'),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new MimiError('store-unavailable', `the store did not answer in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    const e =
      err instanceof MimiError && err.code === 'store-unavailable'
        ? err
        : new MimiError('store-unavailable', 'the store did not answer');
    checks.store = e.code;
    errors.push(e);
  } finally {
    clearTimeout(timer);
  }
  return { ready: errors.length === 0, error: errors[0], checks };
}

/**
 * GET /healthz: the process is alive and serving HTTP (no dependency checked, so a restart is
 * never triggered by the database being away). GET /readyz: whether to send it traffic; 503
 * problem+json with the failing check's code, and every check's result in `checks`.
 */
export function healthRoutes(app: FastifyInstance, ctx: Context): void {
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const r = await readiness(ctx);
    reply.header('cache-control', 'no-store');
    if (r.ready) return { ready: true, checks: r.checks };
    return reply
      .code(503)
      .type('application/problem+json')
      .send({ ...toProblem(r.error!), status: 503, checks: r.checks });
  });
}

/** GET /metrics: the node's Prometheus exposition (src/server/metrics.ts). */
export function metricsRoute(app: FastifyInstance, ctx: Context): void {
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
