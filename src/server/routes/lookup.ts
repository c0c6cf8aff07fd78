import type { FastifyInstance } from 'fastify';
import {
  canonicalQueries,
  type LookupResult,
  lookupLocal,
  renderCompact,
  renderVerbose,
} from '../../dp/lookup.js';
import { withProofs } from '../../dp/lookup-proofs.js';
import { mergeFederated, planLookup } from '../../dp/merge.js';
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
    const registry = ctx.registry.current();
    const plan = planLookup(request, registry.doc.policy.federationDefault);
    const { format } = plan;
    let results: LookupResult[];
    let peers: Awaited<ReturnType<typeof ctx.fanout.lookup>>['peers'] | undefined;
    if (!plan.federated) {
      results = await lookupLocal(ctx.store, request.csis, {
        format,
        mspFilter: request.mspFilter,
        maxBatch: ctx.limits.maxBatch,
        now: ctx.now(),
      });
    } else {
      // R12: anything but the default behaviour draws on a separate, smaller budget.
      if (plan.nonDefault) await ctx.nonDefaultLimiter.consume(`${caller.role}:${caller.participant}`, cost);
      const csis = canonicalQueries(request.csis, ctx.limits.maxBatch);
      const unique = [...new Set(csis)];
      const [local, fanned] = await Promise.all([
        ctx.store.servedMappings(unique, ctx.now(), { json: format !== 'compact' }),
        ctx.fanout.lookup(unique, ctx.fanout.peersFor(plan.dpList)),
      ]);
      peers = fanned.peers;
      results = mergeFederated({
        self: ctx.dp.id,
        queries: request.csis,
        csis,
        unique,
        local,
        peers: fanned.sources,
        mspFilter: request.mspFilter,
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
