import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canonicalQueries, renderVerbose, resultFor } from '../../dp/lookup.js';
import { withProofs } from '../../dp/lookup-proofs.js';
import { targetUri, verifyPeerRequest } from '../../federation/http-signature.js';
import { isMimiError, MimiError } from '../../protocol/errors.js';
import {
  CsipEvent,
  decodeRecord,
  FederationEvent,
  ForwardedLookup,
  Invalidation,
  KeyRotation,
  Mapping,
  Reaffirmation,
} from '../../protocol/records.js';
import type { Context } from '../context.js';
import { bodyOf, limitAnonymous, sendJson } from '../http.js';

/** The raw body, kept by the JSON parser: a peer's Content-Digest covers the bytes, not the parse. */
export interface RawBodyRequest extends FastifyRequest {
  rawBody?: string;
}

/**
 * R23: the DP that signed this request (RFC 9421), once per nonce. The signed target URI is this
 * node's own endpoint in the registry with the request's path: a request signed for another DP
 * does not verify here, whatever Host or X-Forwarded-* headers it carries.
 */
export async function peerOf(req: RawBodyRequest, ctx: Context): Promise<string> {
  const registry = ctx.registry.current();
  const self = registry.dp(ctx.dp.id);
  if (self === undefined) throw new MimiError('unauthenticated', 'this DP is not in the registry');
  const { dp, nonce, keepUntil } = await verifyPeerRequest(
    {
      method: req.method,
      url: targetUri(self.endpoint, req.url),
      headers: req.headers,
      rawBody: req.rawBody ?? '',
    },
    registry,
    new Date(ctx.now() * 1000),
  );
  if (dp === ctx.dp.id) throw new MimiError('forbidden', 'a DP does not call itself');
  if (!(await ctx.peerNonces.add(`${dp}:${nonce}`, keepUntil)))
    throw new MimiError('replayed', 'this signed peer request was already used');
  return dp;
}

/**
 * The DP-to-DP protocol (docs/federation.md): forwarded lookups, answered from this DP's own
 * store only (one hop, R10), and events from peers' outboxes (R16, R18, R24), applied once.
 */
export function federationRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/federation/lookup', async (req, reply) => {
    const origin = await peerOf(req, ctx);
    const request = bodyOf(req, ForwardedLookup, 'forwarded lookup');
    if (request.origin !== origin)
      throw new MimiError('forbidden', 'the request names another origin than its signer');
    // R13: each peer has its own budget here, one point per CSI.
    await ctx.peerLimiter.consume(`peer:${origin}`, Math.max(1, request.csis.length));
    const csis = canonicalQueries(request.csis, ctx.limits.maxBatch);
    const found = await ctx.store.activeMappings([...new Set(csis)], ctx.now());
    const filter = request.mspFilter === undefined ? undefined : new Set(request.mspFilter);
    const results = csis.map((csi) => resultFor(csi, csi, found.get(csi) ?? [], filter));
    const t = ctx.transparency;
    const proved = await withProofs(t?.log, ctx.dp.id, results, t?.peerProofs.proofFor);
    return sendJson(reply, 200, renderVerbose(ctx.dp.id, proved));
  });

  app.post('/v1/federation/events', async (req) => {
    const origin = await peerOf(req, ctx);
    const event = bodyOf(req, FederationEvent, 'federation event');
    if (event.origin !== origin)
      throw new MimiError('forbidden', 'the event names another origin than its signer');
    const outcome = await applyEvent(ctx, event);
    return { id: event.id, outcome };
  });

  // R16, R24: a CSIP posts number events; they carry the CSIP's own signature.
  app.post('/v1/csip/events', async (req, reply) => {
    await limitAnonymous(req, ctx, 'csip');
    const event = bodyOf(req, CsipEvent, 'CSIP event');
    const result = await ctx.dp.applyCsipEvent(event);
    return reply.code(result.duplicate ? 200 : 201).send(result);
  });
}

/**
 * Applies one peer event; everything in it is verified against its own signer (DP, holder or
 * CSIP), never taken on the relaying DP's word.
 */
async function applyEvent(ctx: Context, event: FederationEvent): Promise<string> {
  try {
    switch (event.kind) {
      case 'mapping': {
        const r = await ctx.dp.acceptForeign(decodeRecord(Mapping, event.payload, 'mapping'), event.origin);
        return r.duplicate ? 'duplicate' : r.state;
      }
      case 'invalidation':
        await ctx.dp.invalidate(decodeRecord(Invalidation, event.payload, 'invalidation'), { relayed: true });
        return 'applied';
      case 'key-rotation':
        await ctx.dp.rotateKey(decodeRecord(KeyRotation, event.payload, 'key rotation'), { relayed: true });
        return 'applied';
      case 'reaffirmation':
        await ctx.dp.reaffirm(decodeRecord(Reaffirmation, event.payload, 'reaffirmation'), { relayed: true });
        return 'applied';
      case 'csip-event': {
        const r = await ctx.dp.applyCsipEvent(decodeRecord(CsipEvent, event.payload, 'CSIP event'), {
          relayed: true,
        });
        return r.duplicate ? 'duplicate' : 'applied';
      }
    }
  } catch (err) {
    // A refusal that retrying cannot change (a holder this DP never saw, a replay, a bad
    // signature) is acknowledged with its code; only failures of this DP make the sender retry.
    if (isMimiError(err) && err.status < 500) return `refused: ${err.code}`;
    throw err;
  }
  return 'ignored';
}
