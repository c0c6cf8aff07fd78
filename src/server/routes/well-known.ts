import type { FastifyInstance } from 'fastify';
import { forwardBudget } from '../../federation/fanout.js';
import type { Context } from '../context.js';
import { limitAnonymous, sendJson } from '../http.js';
import { openApiJson } from '../openapi.js';

/** R11: the DP publishes its identity, keys, defaults and limits. */
export function wellKnownRoutes(app: FastifyInstance, ctx: Context): void {
  // The machine-readable contract (src/server/openapi.ts): the same for every node of a version.
  app.get('/openapi.json', async (req, reply) => {
    await limitAnonymous(req, ctx, 'openapi');
    reply.header('cache-control', 'public, max-age=3600');
    return sendJson(reply, 200, openApiJson());
  });

  app.get('/.well-known/mimi-discovery', async () => {
    const registry = ctx.registry.current();
    const v = ctx.config.config.verifier;
    return {
      v: 1,
      id: ctx.dp.id,
      federation: registry.doc.federation,
      keys: [...new Set(Object.values(ctx.dpKeys).map((k) => k.publicKey))],
      keysByUsage: {
        records: ctx.dpKeys.records.publicKey,
        transport: ctx.dpKeys.transport.publicKey,
        log: ctx.dpKeys.log.publicKey,
      },
      registrySerial: registry.serial,
      modes: ctx.privateLookup === undefined ? ['msp-proxied'] : ['msp-proxied', 'private'],
      formats: ['verbose', 'compact'],
      defaults: {
        federation: registry.doc.policy.federationDefault,
        format: 'verbose',
        contestWindowSeconds: ctx.dp.contestWindow,
      },
      limits: {
        maxBatch: ctx.limits.maxBatch,
        maxBodyBytes: ctx.limits.maxBodyBytes,
        // POST /v1/mappings/batch (bulk onboarding): submissions and bytes per request.
        maxSubmissionBatch: ctx.limits.maxSubmissionBatch,
        maxSubmissionBatchBytes: ctx.limits.maxSubmissionBatchBytes,
        callerPointsPerMinute: ctx.limits.callerPointsPerMinute,
        anonymousPerMinute: ctx.limits.anonymousPerMinute,
        // R22: how long a request's parts may take to arrive, and connections per address.
        requestTimeoutMs: ctx.limits.requestTimeoutMs,
        headersTimeoutMs: ctx.limits.headersTimeoutMs,
        bodyTimeoutMs: ctx.limits.bodyTimeoutMs,
        keepAliveTimeoutMs: ctx.limits.keepAliveTimeoutMs,
        maxConnectionsPerAddress: ctx.limits.maxConnectionsPerAddress,
        // R22: CSIs per MSP on POST /v1/lookup: the registry's msps[].lookupBudget, else this
        // default; divided by slowdownFactor while the MSP's lookups look like enumeration.
        mspLookup: {
          default: ctx.limits.mspLookup,
          perMsp: 'registry msps[].lookupBudget',
          reputation: ctx.limits.lookupReputation,
        },
        sessionTtlSeconds: ctx.sessions.ttlSeconds,
        maxMappingLifetimeSeconds: registry.doc.policy.maxMappingLifetime,
      },
      // R11-R13, R20: how this DP federates: defaults, budgets, peers, and what waits to be sent.
      peering: {
        peers: ctx.fanout.peersFor('all').map((id) => ({
          id,
          preferred: ctx.fanout.peersFor('preferred').includes(id),
          throughputClass: registry.dp(id)?.throughputClass,
          circuit: ctx.fanout.breakerState(id),
        })),
        peerTimeoutMs: ctx.fanout.timeoutMs,
        forwardBudgetPerMinute: forwardBudget,
        nonDefaultPointsPerMinute: ctx.limits.nonDefaultPointsPerMinute,
        peerPointsPerMinute: ctx.limits.peerPointsPerMinute,
        outbox: await ctx.store.outboxDepth(),
      },
      // R11, R22: k-anonymity, bucket counts and evaluation budgets of the private path.
      privateLookup:
        ctx.privateLookup === undefined
          ? null
          : {
              ...ctx.privateLookup.index.metadata(),
              budgets: ctx.privateLookup.settings.budgets,
              bucketRequestsPerMinute: ctx.privateLookup.settings.bucketRequestsPerMinute,
              // R11: Privacy Pass (docs/spec/privacy-pass.md): the token type redeemed, one token per
              // evaluation request, and whether a request without any credential is refused.
              privacyPass: {
                tokenType: 2,
                tokensPerRequest: 1,
                requireCredential: ctx.privateLookup.settings.requireCredential,
              },
            },
      // R3, R28: the transparency log, how pseudonyms are made, and any fork seen as a witness.
      transparency:
        ctx.transparency === undefined
          ? null
          : {
              origin: ctx.transparency.log.origin,
              checkpoint: '/v1/log/checkpoint',
              // C2SP tlog-tiles: <tiles>/checkpoint, <tiles>/tile/<L>/<N>, <tiles>/tile/entries/<N>.
              tiles: '/v1/log/tiles',
              // C2SP tlog-witness: <witness>/add-checkpoint, for the logs of the registry's other DPs.
              witness: ctx.transparency.witness === undefined ? null : '/v1/witness',
              checkpointIntervalMs: ctx.transparency.settings.checkpointIntervalMs,
              size: (await ctx.transparency.log.latestCheckpoint()).size,
              // R28: a keyed hash under a DP secret, told only to holders who prove possession.
              pseudonyms: 'keyed-hash',
              witnessIntervalMs: ctx.transparency.settings.witnessIntervalMs,
              forks: (await ctx.store.logForks()).map((f) => ({
                dp: f.dp,
                detectedAt: f.detectedAt,
                reason: f.reason,
              })),
            },
      verifier:
        ctx.verifier === undefined || v === undefined
          ? null
          : {
              id: ctx.verifier.id,
              methods: [
                ...(v.sms ? ['sms-otp'] : []),
                ...(v.email ? ['email-otp'] : []),
                ...(v.dns01 ? ['dns-01'] : []),
              ],
              maxAttempts: ctx.verifier.maxAttempts,
            },
    };
  });
}
