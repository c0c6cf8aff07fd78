import type { FastifyInstance, FastifyRequest } from 'fastify';
import { noteOf } from '../../dp/transparency-log.js';
import { witnessVerifiers } from '../../federation/witness.js';
import { leavesAnswerJson, mappingProofAnswerJson } from '../../protocol/answer-json.js';
import { fromB64u, toB64u } from '../../protocol/encoding.js';
import { MimiError } from '../../protocol/errors.js';
import {
  CosignatureSubmission,
  MAX_LEAVES_PER_REQUEST,
  ProofRequest,
  WitnessRequest,
} from '../../protocol/transparency.js';
import { parseCheckpoint, parseNote } from '../../tlog/checkpoint.js';
import { signatureLines, verifyCosignatures } from '../../tlog/cosignature.js';
import { isTlogError } from '../../tlog/errors.js';
import {
  entryBundle,
  hashTile,
  parseTilePath,
  TILE_WIDTH,
  tileRanges,
  tileWidthAt,
} from '../../tlog/tiles.js';
import type { Context } from '../context.js';
import { bodyOf, sendJson } from '../http.js';
import type { Transparency } from '../transparency.js';
import { peerOf, type RawBodyRequest } from './federation.js';

const count = /^(?:0|[1-9][0-9]{0,15})$/;

function intParam(req: FastifyRequest, name: string, required: true): number;
function intParam(req: FastifyRequest, name: string, required: false): number | undefined;
function intParam(req: FastifyRequest, name: string, required: boolean): number | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !count.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new MimiError('record-invalid', `${name} must be a non-negative integer`);
  }
  return Number(v);
}

/**
 * The transparency log, public and read-only (DESIGN.md "Transparency log"; R3, R28: leaves hold
 * no CSI), in the spirit of RFC 9162 §4 and C2SP checkpoints:
 *
 * - GET /v1/log/checkpoint                     latest checkpoint, a C2SP signed note with cosignatures
 * - GET /v1/log/checkpoints/:size              a stored checkpoint of that size
 * - GET /v1/log/leaves?start=&end=             leaves [start, end), at most 1,000
 * - GET /v1/log/proof/inclusion?index=&size=   audit path (or ?hash=<leaf hash> instead of index)
 * - GET /v1/log/proof/consistency?from=&to=    consistency proof between two sizes
 * - GET /v1/log/witness                        what this DP saw of its peers' logs, and any fork
 *
 * The same log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles) under the prefix /v1/log/tiles,
 * so that witnesses and tlog clients written for that layout can follow it:
 * - GET /v1/log/tiles/checkpoint               the latest checkpoint (as /v1/log/checkpoint)
 * - GET /v1/log/tiles/tile/<L>/<N>[.p/<W>]     hash tile: 256 (or W) hashes of subtrees of 2^(8L) leaves
 * - GET /v1/log/tiles/tile/entries/<N>[.p/<W>] entry bundle: leaves 256N.., uint16 length-prefixed
 *
 * This DP as a C2SP tlog-witness (https://c2sp.org/tlog-witness) of its peers' logs:
 * - POST /v1/witness/add-checkpoint            cosigns a peer's checkpoint shown consistent with the last
 *
 * And for witnesses (signed DP-to-DP calls, R23):
 * - POST /v1/federation/log/checkpoint         latest checkpoint and a consistency proof from `from`
 * - POST /v1/federation/log/cosignature        a peer's cosignature on one of our checkpoints
 */
export function logRoutes(app: FastifyInstance, ctx: Context): void {
  const t = ctx.transparency;
  if (t === undefined) return;
  const limit = (req: FastifyRequest) => t.reads.consume(`log:${req.ip}`);

  app.get('/v1/log/checkpoint', async (req, reply) => {
    await limit(req);
    const cp = await t.log.latestCheckpoint();
    reply.header('cache-control', 'no-cache');
    return reply.type('text/plain; charset=utf-8').send(noteOf(cp));
  });

  app.get('/v1/log/tiles/checkpoint', async (req, reply) => {
    await limit(req);
    const cp = await t.log.latestCheckpoint();
    reply.header('cache-control', 'no-cache');
    return reply.type('text/plain; charset=utf-8').send(noteOf(cp));
  });

  app.get<{ Params: { '*': string } }>('/v1/log/tiles/tile/*', async (req, reply) => {
    await limit(req);
    const tile = parseTilePath(req.params['*']);
    if (tile === undefined) throw new MimiError('record-invalid', 'not a tile path');
    // Tiles of the signed tree only: a client reads them against the checkpoint it fetched.
    const { size } = await t.log.latestCheckpoint();
    // A narrower partial tile than the tree has is a prefix of it, and just as fixed.
    if (tileWidthAt(tile.level, tile.index, size) < tile.width) {
      throw new MimiError('not-found', 'no such tile in the signed tree', { size });
    }
    // R22: at most 256 stored hashes or leaves per request, read as they were committed.
    let body: Uint8Array;
    if (tile.level === 'entries') {
      const start = tile.index * TILE_WIDTH;
      body = entryBundle((await ctx.store.logLeaves(start, start + tile.width)).map((l) => l.data));
    } else {
      body = hashTile(await ctx.store.logSubtrees(tileRanges({ ...tile, level: tile.level })));
    }
    // A full tile never changes; a partial one is replaced by wider ones as the log grows.
    reply.header(
      'cache-control',
      tile.width === TILE_WIDTH ? 'public, max-age=31536000, immutable' : 'public, max-age=60',
    );
    return reply.type('application/octet-stream').send(Buffer.from(body));
  });

  const witness = t.witness;
  if (witness !== undefined) {
    app.post('/v1/witness/add-checkpoint', async (req, reply) => {
      await limit(req);
      const type = req.headers['content-type'] ?? '';
      if (!/^text\/plain(?:;|$)/i.test(type) || typeof req.body !== 'string' || req.body.length > 64 * 1024) {
        throw new MimiError('record-invalid', 'add-checkpoint takes a text/plain body');
      }
      const outcome = await witness.addCheckpoint(req.body);
      // tlog-witness: a wrong old size is answered with the size this witness holds.
      if (outcome.status === 'conflict') {
        return reply.code(409).type('text/x.tlog.size').send(`${outcome.size}\n`);
      }
      return reply.type('text/plain; charset=utf-8').send(outcome.line);
    });
  }

  app.get<{ Params: { size: string } }>('/v1/log/checkpoints/:size', async (req, reply) => {
    await limit(req);
    if (!count.test(req.params.size)) throw new MimiError('record-invalid', 'size must be an integer');
    const cp = await ctx.store.checkpointAt(Number(req.params.size));
    if (cp === undefined) throw new MimiError('not-found', 'no checkpoint of this size');
    return reply.type('text/plain; charset=utf-8').send(noteOf(cp));
  });

  app.get('/v1/log/leaves', async (req, reply) => {
    await limit(req);
    const start = intParam(req, 'start', true);
    const end = intParam(req, 'end', true);
    // R22: bounded work per request.
    if (end <= start || end - start > MAX_LEAVES_PER_REQUEST) {
      throw new MimiError('record-invalid', `need start < end <= start + ${MAX_LEAVES_PER_REQUEST}`, {
        limit: MAX_LEAVES_PER_REQUEST,
      });
    }
    const rows = await ctx.store.logLeaves(start, end);
    return sendJson(
      reply,
      200,
      leavesAnswerJson(
        start,
        rows.map((r) => toB64u(r.data)),
      ),
    );
  });

  app.get('/v1/log/proof/inclusion', async (req) => {
    await limit(req);
    const size = intParam(req, 'size', false) ?? (await t.log.latestCheckpoint()).size;
    const hash = (req.query as Record<string, unknown>).hash;
    let index = intParam(req, 'index', false);
    if (index === undefined) {
      if (typeof hash !== 'string') throw new MimiError('record-invalid', 'give index or hash');
      index = await t.log.leafIndexOf(fromB64u(hash, 'hash', 32));
      if (index === undefined || index >= size) throw new MimiError('not-found', 'no such leaf in this tree');
    }
    const proof = await t.log.inclusion(index, size);
    return { v: 1, index, size, proof: proof.map(toB64u) };
  });

  app.get('/v1/log/proof/consistency', async (req) => {
    await limit(req);
    const from = intParam(req, 'from', true);
    const to = intParam(req, 'to', true);
    const proof = await t.log.consistency(from, to);
    return { v: 1, from, to, proof: proof.map(toB64u) };
  });

  app.get('/v1/log/witness', async (req) => {
    await limit(req);
    return witnessReport(ctx);
  });

  app.post('/v1/federation/log/checkpoint', async (req) => {
    await peerOf(req as RawBodyRequest, ctx);
    const { from } = bodyOf(req, WitnessRequest, 'witness request');
    const cp = await t.log.latestCheckpoint();
    const consistency =
      from > 0 && from < cp.size ? (await t.log.consistency(from, cp.size)).map(toB64u) : null;
    return { v: 1, checkpoint: noteOf(cp), consistency };
  });

  app.post('/v1/federation/log/proof', async (req, reply) => {
    await peerOf(req as RawBodyRequest, ctx);
    const { index } = bodyOf(req, ProofRequest, 'proof request');
    const head = await ctx.store.logHead();
    if (index >= head.size) throw new MimiError('not-found', 'no such leaf');
    return sendJson(reply, 200, mappingProofAnswerJson(await t.log.mappingProofJson(index)));
  });

  app.post('/v1/federation/log/cosignature', async (req) => {
    const witness = await peerOf(req as RawBodyRequest, ctx);
    const { checkpoint } = bodyOf(req, CosignatureSubmission, 'cosignature');
    return storeCosignature(ctx, t, witness, checkpoint);
  });
}

/**
 * Keeps a peer's cosignature on one of our checkpoints: the body must be exactly the checkpoint we
 * signed at that size, and the line must verify under that peer's registry key.
 */
async function storeCosignature(
  ctx: Context,
  t: Transparency,
  witness: string,
  note: string,
): Promise<{ stored: boolean }> {
  // A peer's text that does not parse or verify (a TlogError) is its fault: record-invalid.
  const bad = (why: string, cause?: unknown) =>
    new MimiError('record-invalid', `cosignature refused: ${why}`, undefined, { cause });
  const peers = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw isTlogError(err) ? bad(err.message, err) : err;
    }
  };
  const body = peers(() => parseNote(note).body);
  const cp = peers(() => parseCheckpoint(body));
  if (cp.origin !== t.log.origin) throw bad('another log');
  const size = cp.size;
  const ours = await ctx.store.checkpointAt(size);
  if (ours === undefined || !ours.note.startsWith(`${body}\n`)) throw bad('not a checkpoint of this log');
  const cosigners = witnessVerifiers(ctx.registry.current(), ctx.dp.id, [witness]);
  const verified = peers(() => verifyCosignatures(note, cosigners));
  const name = verified[0]?.name;
  const line = signatureLines(note).find((l) => name !== undefined && l.startsWith(`\u2014 ${name} `));
  if (line === undefined) throw bad('no cosignature from the calling DP');
  await ctx.store.write((tx) => tx.addCosignature(size, witness, line, ctx.now()));
  const stored = await ctx.store.checkpointAt(size);
  if (stored !== undefined) t.log.noteCosigned(stored);
  return { stored: true };
}

/** R11: what this DP saw of its peers' logs as a witness, and every fork it detected. */
export async function witnessReport(ctx: Context) {
  const [seen, forks] = await Promise.all([ctx.store.witnessedLogs(), ctx.store.logForks()]);
  return {
    v: 1,
    witnessed: seen.map((w) => ({ dp: w.dp, size: w.size, rootHash: toB64u(w.rootHash), seenAt: w.seenAt })),
    forks: forks.map((f) => ({
      dp: f.dp,
      detectedAt: f.detectedAt,
      reason: f.reason,
      evidence: JSON.parse(f.evidence) as unknown,
    })),
  };
}
