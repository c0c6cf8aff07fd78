import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import { batchOrder } from '../../dp/batch.js';
import { logReceipt } from '../../dp/log-pseudonym.js';
import type { AcceptResult } from '../../dp/provider.js';
import {
  acceptAnswerJson,
  batchAcceptedJson,
  batchAnswerJson,
  batchRejectedJson,
  mappingAnswerJson,
} from '../../protocol/answer-json.js';
import type { LogReceipt } from '../../protocol/answers.js';
import { toB64u } from '../../protocol/encoding.js';
import { MimiError, toProblem } from '../../protocol/errors.js';
import {
  decodeRecord,
  HolderRead,
  Invalidation,
  KeyRotation,
  MappingSubmission,
  PseudonymRequest,
  Reaffirmation,
  SubmissionBatch,
} from '../../protocol/records.js';
import { isOptOut } from '../../registry/verify-mapping.js';
import type { StoredMapping } from '../../store/store.js';
import type { Caller } from '../auth.js';
import type { Context } from '../context.js';
import { authenticate, bodyOf, limitAnonymous, sendJson } from '../http.js';
import { problemOf } from '../problems.js';

/** An MSP submits only mappings on its own service (an opt-out names no MSP). */
function checkSubmitter(caller: Caller, sub: MappingSubmission): void {
  if (caller.role !== 'msp' || (sub.body.msp !== null && sub.body.msp !== caller.participant)) {
    throw new MimiError('forbidden', 'an MSP submits only mappings on its own service');
  }
}

/** One item of a batch answer, as JSON: accepted, duplicate (accepted before), or rejected with its problem. */
function itemJson(ctx: Context, index: number, outcome: AcceptResult | MimiError): string {
  if (outcome instanceof MimiError) return batchRejectedJson(index, toProblem(outcome));
  return batchAcceptedJson(index, { ...outcome, receipt: receiptOf(ctx, outcome) });
}

/**
 * R28: the CSI's log pseudonym sealed to the mapping's holder key and signed by the DP
 * (LogReceipt); none without a log. The MSP relays it; only the holder opens it.
 */
function receiptOf(ctx: Context, r: AcceptResult): LogReceipt | undefined {
  const t = ctx.transparency;
  if (t === undefined) return undefined;
  try {
    return logReceipt({
      dp: ctx.dp.id,
      dpKey: ctx.dpKeys.records.privateKey,
      mappingId: r.id,
      holderKey: r.mapping.body.holderKey,
      pseudonym: t.keyed.of(r.mapping.body.csi).pseudonym,
    });
  } catch {
    // Unreachable for a key whose signature verified (libsodium refuses small-order and
    // non-canonical keys); the mapping is committed, so its answer goes out without a receipt.
    return undefined;
  }
}

/** A stored mapping as its parties read it. */
function sendMapping(reply: FastifyReply, row: StoredMapping): FastifyReply {
  return sendJson(reply, 200, mappingAnswerJson(row));
}

/** R28: what a non-party, and an id that does not exist, both get: nothing to tell them apart. */
function noSuchMapping(): MimiError {
  return new MimiError('not-found', 'no such mapping');
}

/**
 * Bulk onboarding: every submission goes through the same checks as a single one (decode, the
 * submitter rule, then DiscoveryProvider.accept: every signature, R1-R6, R17 precedence), and
 * is accepted or rejected on its own, in the order batchOrder decides (one CSI's one after the
 * other, in request order; different CSIs at once). All accepts are started before any is
 * awaited, so on SQLite they share the group commit's transactions (each in its own savepoint:
 * a rejected item undoes only itself).
 */
async function acceptBatch(
  ctx: Context,
  caller: Caller,
  items: readonly unknown[],
  log: FastifyBaseLogger,
): Promise<(AcceptResult | MimiError)[]> {
  const decoded = items.map((item, i): MappingSubmission | MimiError => {
    try {
      const sub = decodeRecord(MappingSubmission, item, `submission ${i}`);
      checkSubmitter(caller, sub);
      return sub;
    } catch (err) {
      return problemOf(err, log);
    }
  });
  const after = batchOrder(decoded.map((d) => (d instanceof MimiError ? undefined : d.body.csi)));
  const outcomes: Promise<AcceptResult | MimiError>[] = [];
  decoded.forEach((sub, i) => {
    if (sub instanceof MimiError) {
      outcomes.push(Promise.resolve(sub));
      return;
    }
    const before = after[i];
    const run = before === undefined ? ctx.dp.accept(sub) : outcomes[before]!.then(() => ctx.dp.accept(sub));
    // A rejected item's error; anything unexpected is logged and answered as `internal` for that item.
    outcomes.push(run.catch((err: unknown) => problemOf(err, log)));
  });
  return Promise.all(outcomes);
}

/** The accept answer, with the mapping spliced in as stored (canonical JSON) rather than re-serialised. */
function sendAccepted(ctx: Context, reply: FastifyReply, r: AcceptResult): FastifyReply {
  return sendJson(reply, r.duplicate ? 200 : 201, acceptAnswerJson({ ...r, receipt: receiptOf(ctx, r) }));
}

/**
 * Mapping submission by MSPs (R2, R3, R21), and the holder's own signed requests: opt-out (R14,
 * R25), invalidation, key rotation (R19), reaffirmation (R17), reading its own mappings and its
 * CSI's log pseudonym (R28). Holder requests carry their own signature, so they need no session.
 * R28: a mapping by id goes only to its parties; a non-party learns nothing, not even that it exists.
 */
export function mappingRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/mappings', async (req, reply) => {
    const caller = await authenticate(req, ctx);
    const sub = bodyOf(req, MappingSubmission, 'mapping submission');
    checkSubmitter(caller, sub);
    return sendAccepted(ctx, reply, await ctx.dp.accept(sub));
  });

  // Bulk onboarding: its own body limit (malformed JSON or a larger body is refused whole, before
  // anything is checked or stored); R22: one rate-limit point per submission.
  app.post('/v1/mappings/batch', { bodyLimit: ctx.limits.maxSubmissionBatchBytes }, async (req, reply) => {
    const raw = req.body as { submissions?: unknown } | null;
    const max = ctx.limits.maxSubmissionBatch;
    const count = Array.isArray(raw?.submissions) ? raw.submissions.length : 1;
    const caller = await authenticate(req, ctx, Math.max(1, Math.min(count, max)));
    if (caller.role !== 'msp') throw new MimiError('forbidden', 'mappings are submitted by MSPs');
    const batch = bodyOf(req, SubmissionBatch, 'submission batch');
    if (batch.submissions.length === 0) {
      throw new MimiError('record-invalid', 'a batch holds at least one submission');
    }
    if (batch.submissions.length > max) {
      throw new MimiError('batch-too-large', `at most ${max} submissions per batch`, { maxBatch: max });
    }
    const outcomes = await acceptBatch(ctx, caller, batch.submissions, req.log);
    // Each rejected item counts in mimi_rejects_total as a rejected single submission does.
    for (const o of outcomes) if (o instanceof MimiError) ctx.metrics.rejects.inc({ code: o.code });
    const rejected = outcomes.filter((o) => o instanceof MimiError).length;
    const duplicates = outcomes.filter((o) => !(o instanceof MimiError) && o.duplicate).length;
    const accepted = outcomes.length - rejected - duplicates;
    const results = outcomes.map((o, i) => itemJson(ctx, i, o));
    return sendJson(reply, 200, batchAnswerJson({ accepted, duplicates, rejected }, results));
  });

  // R28: a mapping by id, in any state, only to the MSP it names; its holder reads it with a
  // signed request (POST /v1/holder/mapping). Anyone else is answered as for an unknown id, so an
  // id (a log leaf's commitment) turns into nothing for a non-party.
  app.get<{ Params: { id: string } }>('/v1/mappings/:id', async (req, reply) => {
    const caller = await authenticate(req, ctx);
    const row = await ctx.store.mapping(req.params.id);
    if (row === undefined || caller.role !== 'msp' || row.msp === null || row.msp !== caller.participant) {
      throw noSuchMapping();
    }
    return sendMapping(reply, row);
  });

  app.post('/v1/holder/mapping', async (req, reply) => {
    await limitAnonymous(req, ctx, 'holder');
    const row = await ctx.dp.readForHolder(bodyOf(req, HolderRead, 'holder read'));
    if (row === undefined) throw noSuchMapping();
    return sendMapping(reply, row);
  });

  // R28: the CSI's log pseudonym, to a holder who proves possession now (no log: not-found).
  app.post('/v1/holder/log-pseudonym', async (req, reply) => {
    await limitAnonymous(req, ctx, 'holder');
    const request = bodyOf(req, PseudonymRequest, 'pseudonym request');
    const t = ctx.transparency;
    if (t === undefined) throw new MimiError('not-found', 'this DP keeps no transparency log');
    await ctx.dp.checkPossession(request);
    reply.header('cache-control', 'no-store');
    return {
      v: 1,
      dp: ctx.dp.id,
      csi: request.csi,
      pseudonym: toB64u(t.keyed.of(request.csi).pseudonym),
      epoch: 0,
    };
  });

  app.post('/v1/holder/opt-out', async (req, reply) => {
    await limitAnonymous(req, ctx, 'holder');
    const sub = bodyOf(req, MappingSubmission, 'opt-out');
    if (!isOptOut(sub.body)) throw new MimiError('record-invalid', 'an opt-out names no MSP and no SSI');
    return sendAccepted(ctx, reply, await ctx.dp.accept(sub));
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
