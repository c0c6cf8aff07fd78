import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { MimiError, toProblem } from '../protocol/errors.js';
import { serialiseThroughWireSchemas } from './answers.js';
import type { Context } from './context.js';
import { checkListenAddress } from './listen-address.js';
import { type LogOption, loggerOptions } from './logging.js';
import { asMimiError, problemOf, sendProblem } from './problems.js';
import { federationRoutes, type RawBodyRequest } from './routes/federation.js';
import { healthRoutes, metricsRoute } from './routes/health.js';
import { logRoutes } from './routes/log.js';
import { lookupRoutes } from './routes/lookup.js';
import { mappingRoutes } from './routes/mappings.js';
import { ohttpRoutes } from './routes/ohttp.js';
import { privateRoutes } from './routes/private.js';
import { registryRoutes } from './routes/registry.js';
import { sessionRoutes } from './routes/session.js';
import { verifierRoutes } from './routes/verifier.js';
import { wellKnownRoutes } from './routes/well-known.js';
import { answerClientError, boundBodies, capConnections, serverTimeouts } from './transport.js';

export interface AppOptions {
  /**
   * pino logger settings; false for none. Request bodies are never logged, and no line holds a
   * CSI in clear (src/server/logging.ts).
   */
  logger?: LogOption;
}

export function buildApp(ctx: Context, opts: AppOptions = {}): FastifyInstance {
  const tls = ctx.config.config.listen.tls;
  // R22: headers, whole request and idle keep-alive bounded by node; the body by boundBodies.
  const timeouts = serverTimeouts(ctx.limits);
  const app = Fastify({
    logger: loggerOptions(opts.logger),
    bodyLimit: ctx.limits.maxBodyBytes,
    requestTimeout: ctx.limits.requestTimeoutMs,
    keepAliveTimeout: ctx.limits.keepAliveTimeoutMs,
    http: timeouts,
    // One error model: errors raised before routing (a URL that does not decode, a path segment over
    // maxParamLength) and node's own (headers too large, timeouts) answer problem+json too.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: Parameters<typeof sendProblem>[0]) => {
      const mimi = asMimiError(err) ?? new MimiError('request-invalid', 'the request cannot be processed');
      ctx.metrics.rejects.inc({ code: mimi.code });
      return sendProblem(reply, mimi);
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) =>
      answerClientError(err, socket, ctx.metrics),
    // Behind a proxy: req.ip is the client from X-Forwarded-For, when the hop is a trusted proxy.
    ...(ctx.config.config.listen.trustProxy === undefined
      ? {}
      : { trustProxy: ctx.config.config.listen.trustProxy }),
    ...(tls === undefined
      ? {}
      : {
          https: {
            cert: readFileSync(ctx.config.path(tls.certFile)),
            key: readFileSync(ctx.config.path(tls.keyFile)),
            ...timeouts,
          },
        }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  capConnections(app.server, {
    maxPerAddress: ctx.limits.maxConnectionsPerAddress,
    trustProxy: ctx.config.config.listen.trustProxy,
    tls: tls !== undefined,
    metrics: ctx.metrics,
  });
  boundBodies(app, ctx.limits.bodyTimeoutMs);

  // The background jobs (outbox, peers, leadership) write through this node's logger too.
  if (opts.logger !== undefined && opts.logger !== false) ctx.log.attach(app.log);

  // Metrics by route pattern (never the URL asked: it may hold a CSI), method and status.
  app.addHook('onResponse', (req, reply, done) => {
    ctx.metrics.countRequest(
      req.routeOptions.url ?? '(no route)',
      req.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const mimi = problemOf(err, req.log);
    ctx.metrics.rejects.inc({ code: mimi.code });
    return sendProblem(reply, mimi);
  });
  app.setNotFoundHandler((_req, reply) => {
    const err = new MimiError('not-found', 'no such endpoint');
    ctx.metrics.rejects.inc({ code: err.code });
    return sendProblem(reply, err);
  });

  // Keep the raw body beside the parse: peer requests are signed over its digest (RFC 9421/9530).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    (req as RawBodyRequest).rawBody = body as string;
    parseJson(req, body as string, done);
  });

  serialiseThroughWireSchemas(app);
  wellKnownRoutes(app, ctx);
  registryRoutes(app, ctx);
  federationRoutes(app, ctx);
  sessionRoutes(app, ctx);
  verifierRoutes(app, ctx);
  mappingRoutes(app, ctx);
  lookupRoutes(app, ctx);
  privateRoutes(app, ctx);
  ohttpRoutes(app, ctx);
  logRoutes(app, ctx);
  healthRoutes(app, ctx);
  return app;
}

/**
 * The operations listener (`operations.listen`): /metrics, /healthz and /readyz on an address of
 * their own (loopback by default), so metrics are not served on the public port.
 */
export function buildOperationsApp(ctx: Context): FastifyInstance {
  const app = Fastify({ logger: false }) as unknown as FastifyInstance;
  app.setNotFoundHandler((_req, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(toProblem(new MimiError('not-found', 'no such endpoint'))),
  );
  serialiseThroughWireSchemas(app);
  metricsRoute(app, ctx);
  healthRoutes(app, ctx);
  return app;
}

/** Starts the operations listener when `operations.listen` is configured; its URL, or undefined. */
export async function listenOperations(app: FastifyInstance, ctx: Context): Promise<string | undefined> {
  const l = ctx.config.resolved.operations.listen;
  if (l === undefined) return undefined;
  return app.listen({ host: l.host, port: l.port });
}

/** Start listening, on an address R23 allows (src/server/listen-address.ts). */
export async function listen(app: FastifyInstance, ctx: Context): Promise<string> {
  const { host, port } = ctx.config.config.listen;
  checkListenAddress({ ...ctx.config.config.listen, tlsSetting: true });
  return app.listen({ host, port });
}
