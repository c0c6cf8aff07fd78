import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { MimiError, toProblem } from '../protocol/errors.js';
import type { Context } from './context.js';
import { federationRoutes, type RawBodyRequest } from './routes/federation.js';
import { logRoutes } from './routes/log.js';
import { lookupRoutes } from './routes/lookup.js';
import { mappingRoutes } from './routes/mappings.js';
import { privateRoutes } from './routes/private.js';
import { sessionRoutes } from './routes/session.js';
import { verifierRoutes } from './routes/verifier.js';
import { wellKnownRoutes } from './routes/well-known.js';

export interface AppOptions {
  /** pino logger settings; false for none. Request bodies are never logged (they hold CSIs). */
  logger?: boolean | { level: string; stream?: { write(line: string): void } };
}

/** Turns framework errors into our codes, so every error body is problem+json with a stable code. */
function asMimiError(err: FastifyError | Error): MimiError | undefined {
  if (err instanceof MimiError) return err;
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new MimiError('body-too-large', 'the request body is too large');
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new MimiError('record-invalid', 'send application/json');
  }
  if (
    fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    err instanceof SyntaxError
  ) {
    return new MimiError('malformed-json', 'the request body is not valid JSON');
  }
  if (fe.statusCode === 404) return new MimiError('not-found', 'no such endpoint');
  if (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new MimiError('record-invalid', fe.message);
  }
  return undefined;
}

export function buildApp(ctx: Context, opts: AppOptions = {}): FastifyInstance {
  const tls = ctx.config.config.listen.tls;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: ctx.limits.maxBodyBytes,
    requestTimeout: ctx.limits.requestTimeoutMs,
    keepAliveTimeout: 65_000,
    ...(tls === undefined
      ? {}
      : {
          https: {
            cert: readFileSync(ctx.config.path(tls.certFile)),
            key: readFileSync(ctx.config.path(tls.keyFile)),
          },
        }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const mimi = asMimiError(err);
    if (mimi === undefined) {
      req.log.error({ err }, 'internal error');
      const internal = new MimiError('internal', 'internal error');
      return reply.code(500).type('application/problem+json').send(toProblem(internal));
    }
    // rate-limited, store-unavailable: the caller may repeat the request after this many seconds.
    if (typeof mimi.extra?.retryAfter === 'number') {
      reply.header('retry-after', String(mimi.extra.retryAfter));
    }
    return reply.code(mimi.status).type('application/problem+json').send(toProblem(mimi));
  });
  app.setNotFoundHandler((_req, reply) => {
    const err = new MimiError('not-found', 'no such endpoint');
    return reply.code(404).type('application/problem+json').send(toProblem(err));
  });

  // Keep the raw body beside the parse: peer requests are signed over its digest (RFC 9421/9530).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    (req as RawBodyRequest).rawBody = body as string;
    parseJson(req, body as string, done);
  });

  wellKnownRoutes(app, ctx);
  federationRoutes(app, ctx);
  sessionRoutes(app, ctx);
  verifierRoutes(app, ctx);
  mappingRoutes(app, ctx);
  lookupRoutes(app, ctx);
  privateRoutes(app, ctx);
  logRoutes(app, ctx);
  return app;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '[::1]';
}

/**
 * Start listening. R23: without TLS the node binds only to loopback, unless the config
 * explicitly allows plain HTTP (behind a TLS-terminating proxy).
 */
export async function listen(app: FastifyInstance, ctx: Context): Promise<string> {
  const { host, port, tls, allowInsecureHttp } = ctx.config.config.listen;
  if (tls === undefined && !isLoopback(host) && !allowInsecureHttp) {
    throw new MimiError(
      'insecure-transport',
      `listen.host ${host} is not loopback: configure listen.tls, or set listen.allowInsecureHttp behind a TLS proxy`,
    );
  }
  return app.listen({ host, port });
}
