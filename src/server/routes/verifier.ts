import type { FastifyInstance } from 'fastify';
import { MimiError } from '../../protocol/errors.js';
import { ChallengeAnswer, ChallengeCheck, ChallengeRequest } from '../../protocol/records.js';
import type { Context } from '../context.js';
import { bodyOf, limitAnonymous } from '../http.js';

/** R1: the verifier role: possession challenges with one-time codes, ending in a signed attestation. */
export function verifierRoutes(app: FastifyInstance, ctx: Context): void {
  const verifier = () => {
    if (ctx.verifier === undefined) throw new MimiError('not-found', 'this node runs no verifier');
    return ctx.verifier;
  };

  app.post('/v1/verifier/challenges', async (req, reply) => {
    await limitAnonymous(req, ctx, 'challenge');
    const body = bodyOf(req, ChallengeRequest, 'challenge request');
    const started = await verifier().start(body.csi, body.holderKey);
    return reply.code(201).send(started);
  });

  app.post<{ Params: { id: string } }>('/v1/verifier/challenges/:id/answer', async (req) => {
    await limitAnonymous(req, ctx, 'answer');
    const body = bodyOf(req, ChallengeAnswer, 'challenge answer');
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(req.params.id))
      throw new MimiError('challenge-not-found', 'no such challenge');
    return { attestation: await verifier().answer(req.params.id, body.code) };
  });

  // R29: a dns-01 challenge is answered by the record the holder published; the call asks for the check.
  app.post<{ Params: { id: string } }>('/v1/verifier/challenges/:id/check', async (req) => {
    await limitAnonymous(req, ctx, 'answer');
    bodyOf(req, ChallengeCheck, 'challenge check');
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(req.params.id))
      throw new MimiError('challenge-not-found', 'no such challenge');
    return { attestation: await verifier().checkDns01(req.params.id) };
  });
}
