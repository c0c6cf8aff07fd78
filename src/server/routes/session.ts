import type { FastifyInstance } from 'fastify';
import { digest } from '../../crypto/sign.js';
import { MimiError } from '../../protocol/errors.js';
import { SessionRequest } from '../../protocol/records.js';
import type { Context } from '../context.js';
import { bodyOf, limitAnonymous } from '../http.js';

/** R23: a registered participant trades one signature for a short-lived session token. */
export function sessionRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/session', async (req, reply) => {
    await limitAnonymous(req, ctx, 'session');
    const request = bodyOf(req, SessionRequest, 'session request');
    const now = ctx.now();
    const { token, caller } = ctx.sessions.open(request, ctx.registry.current(), ctx.dp.id, now);
    const fresh = await ctx.store.write((tx) => tx.rememberRequest(digest(request), request.issuedAt + 600));
    if (!fresh) throw new MimiError('replayed', 'this session request was already used');
    return reply
      .code(201)
      .send({ token, participant: caller.participant, role: caller.role, expiresAt: caller.expiresAt });
  });
}
