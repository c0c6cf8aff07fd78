import { byPreference, winningHolder } from '../protocol/preference.js';
import { LookupStatus, levelRank, type PossessionLevel } from '../protocol/records.js';

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
  /** MappingLogProof JSON: the mapping's inclusion proof in its DP's log (R3), when known. */
  log?: string;
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
