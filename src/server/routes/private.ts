import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BlindEvaluation } from '../../crypto/oprf-server.js';
import { ELEMENT_LENGTH } from '../../crypto/oprf-suite.js';
import { toB64u } from '../../protocol/encoding.js';
import { MimiError } from '../../protocol/errors.js';
import { isPrivateTokenHeader } from '../../protocol/privacy-pass.js';
import {
  BucketMediaType,
  BucketsMediaType,
  BucketsRequest,
  EvaluateRequest,
  MAX_BUCKET_BATCH,
  PrivateSuite,
} from '../../protocol/private.js';
import type { Context } from '../context.js';
import { bodyOf } from '../http.js';
import type { EvaluationBudget, PrivateLookup } from '../private-lookup.js';

/**
 * The private lookup path (R9: the target CSI is hidden from the DP; R22, R28: no enumeration).
 *
 * - GET  /v1/private/epochs                  served VOPRF epochs and their public information: each
 *                                            epoch's public key with its `oprf-key` log leaf and
 *                                            audit path (R9, R26)
 * - POST /v1/private/evaluate                RFC 9497 §3.3.2 BlindEvaluate over a bounded batch,
 *                                            with one DLEQ proof for the batch, charged per element
 *                                            to the caller's credential: an MSP session, a Privacy
 *                                            Pass token (RFC 9577; one token per request), or the
 *                                            client's address
 * - GET  /v1/private/buckets/:epoch/:bucket  every entry of one bucket; cacheable with revalidation
 *                                            (ETag), no credential
 * - POST /v1/private/buckets                 up to MAX_BUCKET_BATCH buckets of one epoch in one
 *                                            body, no credential; each bucket counts against the
 *                                            same per-address bucket limit as a GET
 *
 * None of these requests carries a CSI or an OPRF output, so nothing logged or stored about them
 * can reveal one: the DP sees blinded elements and bucket ids only.
 */
export function privateRoutes(app: FastifyInstance, ctx: Context): void {
  const p = ctx.privateLookup;
  if (p === undefined) return;

  app.get('/v1/private/epochs', async (req, reply) => {
    await p.buckets.consume(`epochs:${req.ip}`);
    const keyLogs = await p.index.keyLogs();
    reply.header('cache-control', 'public, max-age=10');
    return {
      v: 1,
      suite: PrivateSuite.Suite,
      mode: PrivateSuite.Mode,
      current: p.index.current(),
      kAnonymity: p.index.kAnonymity,
      maxEvaluateBatch: p.index.maxEvaluateBatch,
      maxBucketBatch: MAX_BUCKET_BATCH,
      epochs: p.index.epochs().map((e) => {
        const keyLog = keyLogs.get(e.id);
        return keyLog === undefined ? e : { ...e, keyLog };
      }),
    };
  });

  // Room for a full batch of base64url elements, whatever the node-wide body limit.
  const bodyLimit = Math.max(ctx.limits.maxBodyBytes, 1024 + 48 * p.settings.maxEvaluateBatch);
  app.post('/v1/private/evaluate', { bodyLimit }, async (req, reply) => {
    const token = privateTokenOf(req);
    // A session or the anonymous tier is checked first, as before; a token is spent only on a
    // request that is well formed (below), so a client's mistake does not burn it.
    const credential = token === undefined ? await credentialOf(req, reply, ctx, p) : undefined;
    const request = bodyOf(req, EvaluateRequest, 'evaluate request');
    const n = request.elements.length;
    // R22: batch sizes are bounded.
    if (n > p.settings.maxEvaluateBatch) {
      throw new MimiError(
        'oprf-batch-too-large',
        `at most ${p.settings.maxEvaluateBatch} elements per evaluation`,
        { limit: p.settings.maxEvaluateBatch },
      );
    }
    const elements = request.elements.map(decodeElement);
    const { budget, key } = credential ?? (await redeemed(token!, reply, p));
    // R22: evaluation is the only way to learn anything, so every element is charged.
    await budget.charge(key, n);
    let evaluated: BlindEvaluation;
    try {
      evaluated = await p.index.evaluate(request.epoch, elements);
    } catch (err) {
      // RFC 9497 §2.1, §3.3: invalid and identity elements are refused with their own code (an
      // OprfError, with its `index`), and charge nothing.
      await budget.refund(key, n);
      throw err;
    }
    reply.header('cache-control', 'no-store');
    return {
      v: 1,
      epoch: request.epoch,
      evaluated: evaluated.evaluated.map(toB64u),
      proof: toB64u(evaluated.proof),
    };
  });

  app.get<{ Params: { epoch: string; bucket: string } }>(
    '/v1/private/buckets/:epoch/:bucket',
    async (req, reply) => {
      await p.buckets.consume(`bucket:${req.ip}`);
      const epoch = decimal(req.params.epoch);
      const bucket = decimal(req.params.bucket);
      if (epoch === undefined || bucket === undefined || epoch < 1) {
        throw new MimiError('not-found', 'no such bucket');
      }
      const body = await p.index.bucket(epoch, bucket);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      // Cacheable, but revalidated on every use (304 while unchanged): a bucket changes in the
      // transaction that changes a mapping in it, and a cache must not answer "none" for a CSI
      // published a moment ago.
      reply.header('cache-control', 'public, no-cache').header('etag', etag);
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.code(200).type(BucketMediaType).send(body);
    },
  );

  // A contact sync needs about a thousand buckets: one request per few hundred saves the per-request
  // cost on both sides. Same bucket ids revealed as separate GETs; not cacheable (POST).
  app.post('/v1/private/buckets', async (req, reply) => {
    const request = bodyOf(req, BucketsRequest, 'buckets request');
    const n = request.buckets.length;
    if (n > MAX_BUCKET_BATCH) {
      throw new MimiError('batch-too-large', `at most ${MAX_BUCKET_BATCH} buckets per request`, {
        limit: MAX_BUCKET_BATCH,
      });
    }
    await p.buckets.consume(`bucket:${req.ip}`, n);
    const body = await p.index.buckets(request.epoch, request.buckets);
    reply.header('cache-control', 'no-store');
    return reply.code(200).type(BucketsMediaType).send(body);
  });
}

/** The Authorization header when its scheme is PrivateToken (RFC 9577 §2.2.1). */
function privateTokenOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header !== undefined && isPrivateTokenHeader(header) ? header : undefined;
}

/**
 * R9, R22, R26: a redeemed Privacy Pass token pays for this one evaluation request (up to
 * maxEvaluateBatch elements); the elements are also counted against the issuing MSP's token
 * budget, which is all the DP can tell about the client: which MSP's user it is.
 */
async function redeemed(
  token: string,
  reply: FastifyReply,
  p: PrivateLookup,
): Promise<{ budget: EvaluationBudget; key: string }> {
  const { msp } = await challenged(reply, p, () => p.tokens.redeem(token));
  return { budget: p.evaluations.tokens, key: `tokens:${msp}` };
}

/** RFC 9577 §2.1: a 401 carries the DP's PrivateToken challenges, one per issuer. */
async function challenged<T>(reply: FastifyReply, p: PrivateLookup, run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof MimiError && err.status === 401) {
      const challenges = p.tokens.challenges();
      if (challenges !== '') reply.header('www-authenticate', challenges);
    }
    throw err;
  }
}

/**
 * An MSP session token (its own budget), or else the anonymous tier keyed by client address,
 * unless the DP requires a credential (privateLookup.requireCredential).
 */
function credentialOf(
  req: FastifyRequest,
  reply: FastifyReply,
  ctx: Context,
  p: PrivateLookup,
): Promise<{ budget: EvaluationBudget; key: string }> {
  return challenged(reply, p, () => {
    const header = req.headers.authorization;
    if (header === undefined) {
      if (p.settings.requireCredential) {
        throw new MimiError('unauthenticated', 'present a PrivateToken or an MSP session token');
      }
      return { budget: p.evaluations.anonymous, key: `addr:${req.ip}` };
    }
    if (!header.startsWith('Bearer ')) {
      throw new MimiError('unauthenticated', 'use a PrivateToken or a Bearer session token');
    }
    const caller = ctx.sessions.check(header.slice(7), ctx.now());
    if (caller.role !== 'msp') throw new MimiError('forbidden', 'the credentialed tier is for MSPs');
    return { budget: p.evaluations.msp, key: `msp:${caller.participant}` };
  });
}

function decodeElement(text: string, index: number): Uint8Array {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== ELEMENT_LENGTH || bytes.toString('base64url') !== text) {
    throw new MimiError(
      'oprf-invalid-element',
      `element ${index} is not ${ELEMENT_LENGTH} bytes of base64url`,
      {
        index,
      },
    );
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function decimal(text: string): number | undefined {
  return /^(0|[1-9][0-9]{0,9})$/.test(text) ? Number(text) : undefined;
}
