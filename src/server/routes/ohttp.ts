import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { decodeRequest, encodeResponseParts, type FieldLine } from '../../crypto/bhttp.js';
import { decapsulateRequest, encodeKeyConfigList, OhttpMediaType } from '../../crypto/ohttp.js';
import { MimiError, toProblem } from '../../protocol/errors.js';
import type { Context } from '../context.js';
import { dateOf, innerRequestHeaders, innerResponseHeaders, isForwarded } from '../ohttp-gateway.js';
import { problemOf } from '../problems.js';

/**
 * The Oblivious HTTP gateway (RFC 9458 §6.3) of the private lookup (R9, R26; docs/spec/ohttp.md).
 *
 * - GET  /v1/ohttp/keys  the live key configurations, `application/ohttp-keys` (§3.2), announced
 *                        key first. Clients take the keys from the signed registry, not from here
 *                        (key consistency); this is for operators and for checking the registry.
 * - POST /v1/ohttp       `message/ohttp-req` in, `message/ohttp-res` out: decapsulates a Binary
 *                        HTTP request and answers it through the private-lookup endpoints only.
 *
 * Faults before decapsulation (malformed, unknown key or suite, tampered or truncated) answer a
 * plain problem (§5.2: nothing can be encrypted to a client we cannot read); after it, every answer
 * (a refused Date, a replay, an inner path not forwarded, the endpoint's own errors) is
 * encapsulated. The inner request runs with the outer request's address, the relay's, so it is
 * counted per relay; the client's address never reaches the DP. Nothing of the inner request
 * is logged beyond what the endpoint itself logs (route pattern, status, the relay's address).
 */
export function ohttpRoutes(app: FastifyInstance, ctx: Context): void {
  const g = ctx.ohttp;
  if (g === undefined || ctx.privateLookup === undefined) return;
  const keyList = Buffer.from(encodeKeyConfigList(g.keys.map((k) => k.config)));
  // An encapsulated evaluation batch: the inner body plus header, enc, tag and framing.
  const bodyLimit = Math.max(
    ctx.limits.maxBodyBytes,
    4096 + 48 * ctx.privateLookup.settings.maxEvaluateBatch,
  );

  app.addContentTypeParser(OhttpMediaType.Request, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );

  app.get('/v1/ohttp/keys', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return reply.code(200).type(OhttpMediaType.Keys).send(keyList);
  });

  app.post('/v1/ohttp', { bodyLimit }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) {
      throw new MimiError('ohttp-malformed', `send ${OhttpMediaType.Request}`);
    }
    const d = await decapsulateRequest(g.byId, new Uint8Array(req.body));
    let inner: { status: number; headers: FieldLine[]; content: Uint8Array[] };
    try {
      const r = decodeRequest(d.request);
      g.replay.admit(d.enc, dateOf(r.headers));
      const path = r.path;
      if (!isForwarded(r.method, path)) {
        throw new MimiError('ohttp-target-forbidden', 'the gateway forwards only the private lookup');
      }
      const res = await app.inject({
        method: r.method as 'GET' | 'POST',
        url: path,
        headers: innerRequestHeaders(r.headers),
        ...(r.method === 'GET' ? {} : { payload: Buffer.from(r.content) }),
        // The relay's address: every per-address limit inside is a per-relay limit.
        remoteAddress: req.ip,
        // The answer's chunks as written, not joined and decoded as text (a bucket batch is MiBs).
        payloadAsStream: true,
      });
      const content: Uint8Array[] = [];
      for await (const chunk of res.stream()) content.push(chunk as Buffer);
      inner = { status: res.statusCode, headers: innerResponseHeaders(res.headers), content };
    } catch (err) {
      const mimi = problemOf(err, req.log);
      ctx.metrics.rejects.inc({ code: mimi.code });
      inner = {
        status: mimi.status,
        headers: [['content-type', 'application/problem+json']],
        content: [Buffer.from(JSON.stringify(toProblem(mimi)))],
      };
    }
    reply.header('cache-control', 'no-store');
    // Binary HTTP around the answer's chunks, encrypted piece by piece and sent as the pieces
    // are (§4.4): a bucket batch answer is MiBs, and several may be in flight.
    const pieces = d
      .respondPieces(encodeResponseParts(inner))
      .map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    reply.header(
      'content-length',
      pieces.reduce((n, p) => n + p.length, 0),
    );
    return reply.code(200).type(OhttpMediaType.Response).send(Readable.from(pieces));
  });
}
