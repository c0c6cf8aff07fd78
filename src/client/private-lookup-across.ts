/**
 * A private lookup across several DPs (R10 `dpList`): one {@link PrivateLookupClient} per DP,
 * their verified answers merged by mapping id and reduced to one holder per CSI (R17), a holder's
 * opt-out winning over what a lagging DP still serves (R14, R25).
 */
import type { OprfClientEngine } from '../crypto/oprf-client-sodium.js';
import { MimiError } from '../protocol/errors.js';
import { parseCsi } from '../protocol/identifiers.js';
import { winningHolder } from '../protocol/preference.js';
import { levelRank } from '../protocol/records.js';
import type { TrustPolicy } from '../registry/policy.js';
import { isOptOut } from '../registry/verify-mapping.js';
import type { VerifiedMapping, VerifiedResult } from './lookup-client.js';
import { MemoryOprfCache, type OprfOutputCache } from './oprf-cache.js';
import { PrivateLookupClient, type PrivateLookupStats } from './private-lookup.js';
import { statusOf } from './private-verify.js';
import { type RegistryInput, registryGetter } from './registry-input.js';

/**
 * A private lookup across several DPs: the merged results and how each DP fared.
 *
 * @example
 * const failed = outcome.dps.filter((d) => d.status === 'error').map((d) => d.dp);
 */
export interface FederatedPrivateResult {
  /** Per CSI, the verified mappings of every DP that answered, merged by mapping id (R15: `dps`). */
  results: VerifiedResult[];
  /** How each DP fared. */
  dps: { dp: string; status: 'ok' | 'error'; error?: MimiError; stats?: PrivateLookupStats }[];
}

/**
 * What {@link privateLookupAcross} asks with: the registry, which DPs, and each DP's credential.
 *
 * @example
 * const opts: PrivateLookupAcrossOptions = { registry, dps: ['dp1', 'dp2'], tokens: (dp) => tokensFor(dp) };
 */
export interface PrivateLookupAcrossOptions {
  registry: RegistryInput;
  policy?: TrustPolicy;
  /** 'all' DPs of the registry, or explicit ids. */
  dps: 'all' | readonly string[];
  cache?: OprfOutputCache;
  oprf?: OprfClientEngine;
  credential?: (dp: string) => Promise<string | undefined> | string | undefined;
  /** Privacy Pass tokens for each DP (a token is bound to one DP), in place of `credential`. */
  tokens?: (dp: string) => { next(): Promise<string> };
  now?: () => number;
  timeoutMs?: number;
  /** Through this Oblivious HTTP relay (see {@link PrivateLookupOptions.relay}). */
  relay?: string;
}

/**
 * A private lookup against several DPs of the registry in parallel (R10 `dpList`). A DP that
 * fails is reported, not fatal. Each DP gets its own client, cache partition and credential.
 *
 * @example
 * const { results } = await privateLookupAcross(['+14155550101'], { registry, dps: 'all' });
 */
export async function privateLookupAcross(
  csis: readonly string[],
  opts: PrivateLookupAcrossOptions,
): Promise<FederatedPrivateResult> {
  const registry = registryGetter(opts.registry)();
  const entries = registry.doc.dps.filter((d) => opts.dps === 'all' || opts.dps.includes(d.id));
  const cache = opts.cache ?? new MemoryOprfCache();
  const clients = entries.map(
    (d) =>
      new PrivateLookupClient({
        dp: { baseUrl: d.endpoint, id: d.id, timeoutMs: opts.timeoutMs },
        registry: opts.registry,
        policy: opts.policy,
        cache,
        oprf: opts.oprf,
        credential: opts.credential === undefined ? undefined : () => opts.credential!(d.id),
        tokens: opts.tokens?.(d.id),
        now: opts.now,
        relay: opts.relay,
      }),
  );
  const settled = await Promise.allSettled(clients.map((c) => c.lookup(csis)));
  const canonical = csis.map((c) => parseCsi(c).uri);
  const merged = canonical.map((csi) => ({ csi, byId: new Map<string, VerifiedMapping>() }));
  const dps: FederatedPrivateResult['dps'] = [];
  settled.forEach((s, i) => {
    const dp = entries[i]!.id;
    if (s.status === 'rejected') {
      const error = s.reason instanceof MimiError ? s.reason : new MimiError('internal', String(s.reason));
      dps.push({ dp, status: 'error', error });
      return;
    }
    dps.push({ dp, status: 'ok', stats: clients[i]!.lastStats });
    s.value.forEach((r, j) => {
      for (const m of r.mappings) {
        const have = merged[j]!.byId.get(m.id);
        if (have === undefined) merged[j]!.byId.set(m.id, { ...m, dps: [...m.dps] });
        else for (const d of m.dps) if (!have.dps.includes(d)) have.dps.push(d);
      }
    });
  });
  const results = merged.map(({ csi, byId }) => {
    // R17 across DPs: one holder per CSI, as the federated plain lookup does (mergeServed).
    const perDp = settled.map((s, i) =>
      s.status !== 'fulfilled'
        ? []
        : [...byId.values()]
            .filter((m) => m.dps.includes(entries[i]!.id))
            .map((m) => ({
              id: m.id,
              holderKey: m.mapping.body.holderKey,
              acceptedAt: m.mapping.acceptedAt,
              levelRank: levelRank[m.mapping.attestation.level],
            })),
    );
    const winner = winningHolder(perDp);
    const all = [...byId.values()].filter((m) => winner.has(m.id));
    const optOut = all.filter((m) => isOptOut(m.mapping.body));
    // A holder's opt-out wins over mappings a lagging DP still serves (R14, R25).
    const mappings = optOut.length > 0 ? optOut.slice(0, 1) : all;
    return { query: csi, csi, status: statusOf(mappings), mappings };
  });
  return { results, dps };
}
