import type { MappingProof, TransparencyLog } from './transparency-log.js';

/**
 * Where a stored mapping is logged: the DP that accepted it and its leaf index. The mapping is
 * canonical JSON in which `"dp":` and `"logIndex":` occur only as top-level keys (string values
 * escape their quotes), so the lookup path needs no parse.
 */
export function logPosition(json: string): { dp: string; index: number } | undefined {
  const dp = /"dp":"([a-z0-9.-]+)"/.exec(json);
  const at = /"logIndex":(\d+)/.exec(json);
  return dp === null || at === null ? undefined : { dp: dp[1]!, index: Number(at[1]) };
}

/** Gets a peer's proof for a mapping it logged (a foreign copy served here, R17/R18). */
export type PeerProofSource = (dp: string, index: number) => Promise<string | undefined>;

/** A mapping's `log` member: a peer's MappingLogProof JSON as it came, or one of this DP's proofs. */
export type LogMember = string | MappingProof;

/**
 * The same results with each mapping carrying its inclusion proof (R3): from this DP's log for
 * the mappings it accepted (all of them in one call), from the accepting peer for foreign copies
 * (when `peers` is given). Rows are copied, never changed in place (the store may share them
 * between answers).
 */
export async function withProofs<R extends { rows: readonly { json: string; log?: LogMember }[] }>(
  log: TransparencyLog | undefined,
  dpId: string,
  results: readonly R[],
  peers?: PeerProofSource,
): Promise<R[]> {
  if (log === undefined) return [...results];
  const positions = results.map((r) =>
    r.rows.map((row) => (row.log === undefined ? logPosition(row.json) : undefined)),
  );
  const own = positions.flatMap((p) => p.filter((at) => at?.dp === dpId).map((at) => at!.index));
  const proofs = own.length === 0 ? [] : await log.mappingProofs(own);
  let next = 0;
  const out: R[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const rows = [];
    for (let j = 0; j < r.rows.length; j++) {
      const row = r.rows[j]!;
      const at = positions[i]![j];
      let proof: LogMember | undefined;
      if (at !== undefined && at.dp === dpId) proof = proofs[next++];
      else if (at !== undefined && peers !== undefined) proof = await peers(at.dp, at.index);
      rows.push(proof === undefined ? row : { ...row, log: proof });
    }
    out.push({ ...r, rows });
  }
  return out;
}
