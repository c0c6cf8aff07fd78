import { byPreference, winningHolder } from '../protocol/preference.js';
import {
  type LookupFormat,
  type LookupRequest,
  LookupStatus,
  levelRank,
  type PossessionLevel,
} from '../protocol/records.js';
import type { LookupResult } from './lookup.js';
import type { LogMember } from './lookup-proofs.js';

/** R10: which DPs a federated lookup asks. */
export type DpList = NonNullable<LookupRequest['dpList']>;

/** A served mapping, from the local store or a verified peer answer, with the DPs that returned it. */
export interface ServedMapping {
  id: string;
  /** Canonical JSON of the signed mapping. */
  json: string;
  holderKey: string;
  msp: string | null;
  tag: string;
  priority: number;
  acceptedAt: number;
  level: PossessionLevel;
  optOut: boolean;
  dps: string[];
  /** The mapping's inclusion proof in its DP's log (R3), when known: MappingLogProof JSON or this DP's own. */
  log?: LogMember;
}

/**
 * Merges what several DPs serve for one CSI (R15: each mapping once, with every DP that returned
 * it) and applies R17 across them, so a federated answer never shows two holders: each DP serves
 * one holder per CSI; DPs that share a holder key serve the same holder; among different holders
 * the stricter possession proof wins, then the older (earliest accepted) holder.
 */
export function mergeServed(
  sources: readonly { dp: string; rows: readonly ServedMapping[] }[],
): ServedMapping[] {
  const byId = new Map<string, ServedMapping>();
  for (const source of sources) {
    for (const row of source.rows) {
      const seen = byId.get(row.id);
      if (seen === undefined) byId.set(row.id, { ...row, dps: [...new Set([...row.dps, source.dp])] });
      else {
        for (const dp of [...row.dps, source.dp]) if (!seen.dps.includes(dp)) seen.dps.push(dp);
        seen.log ??= row.log;
      }
    }
  }
  const winner = winningHolder(
    sources.map((s) => s.rows.map((r) => ({ ...r, levelRank: levelRank[r.level] }))),
  );
  return [...byId.values()].filter((r) => winner.has(r.id));
}

/** R14: the status and order of one CSI's served mappings, after an optional MSP filter. */
export function statusOf<T extends Omit<ServedMapping, 'dps'>>(
  rows: readonly T[],
  filter?: ReadonlySet<string>,
): { status: LookupStatus; rows: T[] } {
  const optOut = rows.find((r) => r.optOut);
  if (optOut !== undefined) return { status: LookupStatus.OptOut, rows: [optOut] };
  const served = rows
    .filter((r) => filter === undefined || (r.msp !== null && filter.has(r.msp)))
    .sort(byPreference);
  const status =
    served.length === 0 ? LookupStatus.None : served.length === 1 ? LookupStatus.One : LookupStatus.Several;
  return { status, rows: served };
}

/** How a lookup request is served, from what it asks and the federation's default (R10, R11, R12). */
export interface LookupPlan {
  format: LookupFormat;
  /** R10, R11: across the federation, or from this DP's store only. */
  federated: boolean;
  dpList: DpList;
  /** R12: it draws on the separate, smaller budget of non-default queries. */
  nonDefault: boolean;
}

/**
 * R10, R11, R12: what the caller did not say follows the federation's default (verbose, the
 * default federation setting, the preferred DPs). A federated lookup is non-default, and drawn
 * from the smaller budget, when the federation's default is local or the DP list is not the
 * preferred one; a local lookup costs only the ordinary budget.
 */
export function planLookup(
  request: { format?: LookupFormat; federation?: boolean; dpList?: DpList },
  federationDefault: boolean,
): LookupPlan {
  const federated = request.federation ?? federationDefault;
  const dpList = request.dpList ?? 'preferred';
  return {
    format: request.format ?? 'verbose',
    federated,
    dpList,
    nonDefault: federated && (!federationDefault || dpList !== 'preferred'),
  };
}

/**
 * A federated answer (R14, R15, R17): for each query, this DP's own served rows (returned by
 * `self`) merged with what each peer returned for the same canonical CSI, then its status and
 * order after the MSP filter. `csis[i]` is the canonical form of `queries[i]`; `local` and
 * `peers` are keyed by canonical CSI (peers: one list of sources per CSI of `unique`).
 */
export function mergeFederated(input: {
  self: string;
  queries: readonly string[];
  csis: readonly string[];
  unique: readonly string[];
  local: ReadonlyMap<string, readonly Omit<ServedMapping, 'dps'>[]>;
  peers: readonly (readonly { dp: string; rows: readonly ServedMapping[] }[])[];
  mspFilter?: readonly string[];
}): LookupResult[] {
  const filter = input.mspFilter === undefined ? undefined : new Set(input.mspFilter);
  return input.csis.map((csi, i) => {
    const u = input.unique.indexOf(csi);
    const own: ServedMapping[] = (input.local.get(csi) ?? []).map((m) => ({ ...m, dps: [input.self] }));
    const merged = mergeServed([{ dp: input.self, rows: own }, ...(input.peers[u] ?? [])]);
    return { query: input.queries[i]!, csi, ...statusOf(merged, filter) };
  });
}
