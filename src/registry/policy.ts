import { levelRank, type PossessionLevel } from '../protocol/records.js';

/**
 * A sender's (or DP's) trust policy: which possession evidence it accepts. Strict by default;
 * the one loosening is named for its risk (STYLE.md §6).
 */
export interface TrustPolicy {
  /** Verifier and CSIP ids whose attestations count; undefined means every one in the registry. */
  trustedIssuers?: readonly string[];
  /** Refuse attestations from a verifier run by the same operator as the DP that accepted the mapping. */
  requireIndependentVerifier?: boolean;
  /** Weakest possession level accepted. */
  minLevel?: PossessionLevel;
  /** Accept expired attestations and mappings (forensics only). */
  allowExpired?: boolean;
  /** Tolerated clock skew for times in the future, in seconds. */
  clockSkew?: number;
}

export const defaultClockSkew = 300;

export function trustsIssuer(policy: TrustPolicy, issuer: string): boolean {
  return policy.trustedIssuers === undefined || policy.trustedIssuers.includes(issuer);
}

export function meetsLevel(policy: TrustPolicy, level: PossessionLevel): boolean {
  return policy.minLevel === undefined || levelRank[level] >= levelRank[policy.minLevel];
}
