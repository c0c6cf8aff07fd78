import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AcceptResult } from '../../dp/provider.js';
import { MimiError } from '../../protocol/errors.js';
import { Invalidation, KeyRotation, MappingSubmission, Reaffirmation } from '../../protocol/records.js';
import { isOptOut } from '../../registry/verify-mapping.js';
import type { Context } from '../context.js';
import { authenticate, bodyOf, limitAnonymous, sendJson } from '../http.js';

/** The accept answer, with the mapping spliced in as stored (canonical JSON) rather than re-serialised. */
function sendAccepted(reply: FastifyReply, r: AcceptResult): FastifyReply {
  return sendJson(
    reply,
    r.duplicate ? 200 : 201,
    `{"id":"${r.id}","state":"${r.state}","mapping":${r.json},"duplicate":${r.duplicate}}`,
  );
}

/**
 * Mapping submission by MSPs (R2, R3, R21), and the holder's own signed requests: opt-out (R14,
 * R25), invalidation, key rotation (R19) and reaffirmation (R17). Holder requests carry their
 * own signature, so they need no session.
 */
export function mappingRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/mappings', async (req, reply) => {
    const caller = await authenticate(req, ctx);
    const sub = bodyOf(req, MappingSubmission, 'mapping submission');
    if (caller.role !== 'msp' || (sub.body.msp !== null && sub.body.msp !== caller.participant)) {
      throw new MimiError('forbidden', 'an MSP submits only mappings on its own service');
    }
    return sendAccepted(reply, await ctx.dp.accept(sub));
  });

  app.get<{ Params: { id: string } }>('/v1/mappings/:id', async (req, reply) => {
    await authenticate(req, ctx);
    const row = await ctx.store.mapping(req.params.id);
    if (row === undefined) throw new MimiError('mapping-not-found', 'no such mapping');
    return sendJson(reply, 200, `{"id":"${row.id}","state":"${row.state}","mapping":${row.json}}`);
  });

  app.post('/v1/holder/opt-out', async (req, reply) => {
    await limitAnonymous(req, ctx, 'holder');
    const sub = bodyOf(req, MappingSubmission, 'opt-out');
    if (!isOptOut(sub.body)) throw new MimiError('record-invalid', 'an opt-out names no MSP and no SSI');
    return sendAccepted(reply, await ctx.dp.accept(sub));
  });

  app.post('/v1/holder/invalidate', async (req) => {
    await limitAnonymous(req, ctx, 'holder');
    return ctx.dp.invalidate(bodyOf(req, Invalidation, 'invalidation'));
  });

  app.post('/v1/holder/rotate', async (req) => {
    await limitAnonymous(req, ctx, 'holder');
    await ctx.dp.rotateKey(bodyOf(req, KeyRotation, 'key rotation'));
    return { rotated: true };
  });

  app.post('/v1/holder/reaffirm', async (req) => {
    await limitAnonymous(req, ctx, 'holder');
    return ctx.dp.reaffirm(bodyOf(req, Reaffirmation, 'reaffirmation'));
  });
}
