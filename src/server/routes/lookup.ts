import type { FastifyInstance } from 'fastify';
import {
  canonicalQueries,
  type LookupResult,
  lookupLocal,
  renderCompact,
  renderVerbose,
  resultFor,
} from '../../dp/lookup.js';
import { mergeServed, type ServedMapping } from '../../dp/merge.js';
import { withProofs } from '../../dp/transparency-log.js';
import { MimiError } from '../../protocol/errors.js';
import { LookupRequest, LookupStatus } from '../../protocol/records.js';
import type { Context } from '../context.js';
import { authenticate, bodyOf, sendJson } from '../http.js';

/**
 * MSP-proxied lookup (R9: the DP sees the MSP, not its user), verbose or compact (R15), local
 * or across the federation (R10) with the federation's default when the caller does not say (R11).
 */
export function lookupRoutes(app: FastifyInstance, ctx: Context): void {
  app.post('/v1/lookup', async (req, reply) => {
    const body = req.body as { csis?: unknown } | null;
    // R22: a lookup costs one point per CSI asked.
    const cost = Array.isArray(body?.csis) ? Math.max(1, Math.min(body.csis.length, ctx.limits.maxBatch)) : 1;
    const caller = await authenticate(req, ctx, cost);
    if (caller.role !== 'msp') throw new MimiError('forbidden', 'lookups are made by MSPs for their users');
    const request = bodyOf(req, LookupRequest, 'lookup');
    // R22: the MSP's own budget per CSI, per minute and per day, all of the batch or none of it.
    await ctx.lookupBudgets.charge(caller.participant, cost);
    const format = request.format ?? 'verbose';
    const registry = ctx.registry.current();
    const federationDefault = registry.doc.policy.federationDefault;
    const federated = request.federation ?? federationDefault;
    let results: LookupResult[];
    let peers: Awaited<ReturnType<typeof ctx.fanout.lookup>>['peers'] | undefined;
    if (!federated) {
      results = await lookupLocal(ctx.store, request.csis, {
        format,
        mspFilter: request.mspFilter,
        maxBatch: ctx.limits.maxBatch,
        now: ctx.now(),
      });
    } else {
      const dpList = request.dpList ?? 'preferred';
      // R12: anything but the default behaviour draws on a separate, smaller budget.
      if (!federationDefault || dpList !== 'preferred') {
        await ctx.nonDefaultLimiter.consume(`${caller.role}:${caller.participant}`, cost);
      }
      const csis = canonicalQueries(request.csis, ctx.limits.maxBatch);
      const unique = [...new Set(csis)];
      const [local, fanned] = await Promise.all([
        ctx.store.servedMappings(unique, ctx.now(), { json: format !== 'compact' }),
        ctx.fanout.lookup(unique, ctx.fanout.peersFor(dpList)),
      ]);
      peers = fanned.peers;
      const filter = request.mspFilter === undefined ? undefined : new Set(request.mspFilter);
      results = csis.map((csi, i) => {
        const u = unique.indexOf(csi);
        const own: ServedMapping[] = (local.get(csi) ?? []).map((m) => ({ ...m, dps: [ctx.dp.id] }));
        const merged = mergeServed([{ dp: ctx.dp.id, rows: own }, ...fanned.sources[u]!]);
        return resultFor(request.csis[i]!, csi, merged, filter);
      });
    }
    // R22: reputation from what was asked and found; misses are CSIs with nothing served.
    ctx.lookupBudgets.observe(
      caller.participant,
      results.map((r) => ({ csi: r.csi, miss: r.status === LookupStatus.None })),
    );
    const json =
      format === 'verbose'
        ? // R3: each mapping this DP logged carries its inclusion proof.
          renderVerbose(
            ctx.dp.id,
            await withProofs(
              ctx.transparency?.log,
              ctx.dp.id,
              results,
              ctx.transparency?.peerProofs.proofFor,
            ),
            peers,
            { shared: request.proofs === 'shared' },
          )
        : renderCompact(ctx.dp.id, registry, results, peers);
    return sendJson(reply, 200, json);
  });
}
