import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import { limitAnonymous } from '../http.js';

/**
 * R30: the signed registry document this node runs on, byte for byte as it was loaded, so a
 * client holding only the pinned registry key can bootstrap from any DP. The document is signed:
 * serving it asks no trust in the DP. Strong ETag (SHA-256 of the bytes); revalidated each minute.
 */
export function registryRoutes(app: FastifyInstance, ctx: Context): void {
  app.get('/v1/registry', async (req, reply) => {
    await limitAnonymous(req, ctx, 'registry');
    const { bytes, etag } = ctx.registry.currentBytes();
    reply.header('etag', etag).header('cache-control', 'public, max-age=60, must-revalidate');
    if (matches(req.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.code(200).type('application/json').send(bytes);
  });
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly, over a list of entity tags or `*`. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === '*' || t === etag || t === `W/${etag}`);
}
