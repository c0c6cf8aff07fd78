import { byPreference, olderFirst } from '../protocol/preference.js';
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
  const claims: { keys: Set<string>; ids: Set<string> }[] = [];
  for (const source of sources) {
    if (source.rows.length === 0) continue;
    const claim = { keys: new Set(source.rows.map((r) => r.holderKey)), ids: new Set<string>() };
    for (const row of source.rows) {
      const seen = byId.get(row.id);
      if (seen === undefined) byId.set(row.id, { ...row, dps: [...new Set([...row.dps, source.dp])] });
      else for (const dp of [...row.dps, source.dp]) if (!seen.dps.includes(dp)) seen.dps.push(dp);
      claim.ids.add(row.id);
    }
    // Claims that share a holder key belong to one holder.
    const same = claims.filter((c) => [...claim.keys].some((k) => c.keys.has(k)));
    for (const c of same) {
      for (const k of c.keys) claim.keys.add(k);
      for (const id of c.ids) claim.ids.add(id);
      claims.splice(claims.indexOf(c), 1);
    }
    claims.push(claim);
  }
  if (claims.length === 0) return [];
  const rank = (c: (typeof claims)[number]) => {
    const rows = [...c.ids].map((id) => byId.get(id)!);
    return {
      level: Math.max(...rows.map((r) => levelRank[r.level])),
      first: rows.reduce((a, b) => (olderFirst(b, a) < 0 ? b : a)),
      rows,
    };
  };
  const ranked = claims.map(rank).sort((a, b) => b.level - a.level || olderFirst(a.first, b.first));
  return ranked[0]!.rows;
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
