import type { FastifyInstance } from 'fastify';
import { lookupLocal, renderCompact, renderVerbose } from '../../dp/lookup.js';
import { MimiError } from '../../protocol/errors.js';
import { LookupRequest } from '../../protocol/records.js';
import type { Context } from '../context.js';
import { authenticate, bodyOf, sendJson } from '../http.js';

/** MSP-proxied lookup (R9: the DP sees the MSP, not its user), verbose or compact (R15). */
export function lookupRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/lookup', async (req, reply) => {
    const body = req.body as { csis?: unknown } | null;
    // R22: a lookup costs one point per CSI asked.
    const cost = Array.isArray(body?.csis) ? Math.max(1, Math.min(body.csis.length, ctx.limits.maxBatch)) : 1;
    const caller = await authenticate(req, ctx, cost);
    if (caller.role !== 'msp') throw new MimiError('forbidden', 'lookups are made by MSPs for their users');
    const request = bodyOf(req, LookupRequest, 'lookup');
    const format = request.format ?? 'verbose';
    const results = await lookupLocal(ctx.store, request.csis, {
      format,
      mspFilter: request.mspFilter,
      maxBatch: ctx.limits.maxBatch,
      now: ctx.now(),
    });
    const json =
      format === 'verbose'
        ? renderVerbose(ctx.dp.id, results)
        : renderCompact(ctx.dp.id, ctx.registry.current(), results);
    return sendJson(reply, 200, json);
  });
}
