import { DefaultTag } from './records.js';

export interface Preferable {
  tag: string;
  priority: number;
  acceptedAt: number;
  id: string;
}

/** R7: "Default" first, then lower priority value, then the older mapping; never a random pick. */
export function byPreference(a: Preferable, b: Preferable): number {
  const ad = a.tag === DefaultTag ? 0 : 1;
  const bd = b.tag === DefaultTag ? 0 : 1;
  return ad - bd || a.priority - b.priority || a.acceptedAt - b.acceptedAt || (a.id < b.id ? -1 : 1);
}

/**
 * Which of two mappings is older (R17): accepted first, and for the same second the smaller id,
 * so that every DP orders any two holders the same way.
 */
export function olderFirst(
  a: Pick<Preferable, 'acceptedAt' | 'id'>,
  b: Pick<Preferable, 'acceptedAt' | 'id'>,
): number {
  return a.acceptedAt - b.acceptedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What R17 needs to know of a served mapping to pick between holders. */
export interface Claimable {
  id: string;
  holderKey: string;
  acceptedAt: number;
  /** levelRank of its possession proof: higher is stricter. */
  levelRank: number;
}

/**
 * R17 across DPs: each DP serves one holder per CSI, and DPs whose served mappings share a
 * holder key serve the same holder. Between holders the stricter possession proof wins, then the
 * holder accepted first (`olderFirst`). Returns the winning holder's mapping ids, so a federated
 * answer never shows two holders of one CSI.
 */
export function winningHolder(sources: readonly (readonly Claimable[])[]): Set<string> {
  const claims: { keys: Set<string>; rows: Map<string, Claimable> }[] = [];
  for (const rows of sources) {
    if (rows.length === 0) continue;
    const claim = { keys: new Set(rows.map((r) => r.holderKey)), rows: new Map(rows.map((r) => [r.id, r])) };
    for (const c of claims.filter((c) => [...claim.keys].some((k) => c.keys.has(k)))) {
      for (const k of c.keys) claim.keys.add(k);
      for (const [id, r] of c.rows) claim.rows.set(id, r);
      claims.splice(claims.indexOf(c), 1);
    }
    claims.push(claim);
  }
  if (claims.length === 0) return new Set();
  const ranked = claims.map((c) => {
    const rows = [...c.rows.values()];
    return {
      ids: new Set(c.rows.keys()),
      level: Math.max(...rows.map((r) => r.levelRank)),
      first: rows.reduce((a, b) => (olderFirst(b, a) < 0 ? b : a)),
    };
  });
  ranked.sort((a, b) => b.level - a.level || olderFirst(a.first, b.first));
  return ranked[0]!.ids;
}
