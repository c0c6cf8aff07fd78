import { levelRank, type PossessionLevel } from '../protocol/records.js';

/**
 * A sender's (or DP's) trust policy: which possession evidence it accepts. Strict by default;
 * the one loosening is named for its risk (STYLE.md §6).
 *
 * @example
 * const policy: TrustPolicy = { minCosignatures: 1, requireIndependentVerifier: true };
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
  /**
   * Accept mappings in a verbose answer without a valid inclusion proof in their DP's
   * transparency log (R3). Off by default: an unlogged mapping may have been shown to you alone.
   */
  allowUnlogged?: boolean;
  /** Cosignatures from witness DPs the proof's checkpoint must carry (default 0). */
  minCosignatures?: number;
  /** DP ids whose cosignatures count; undefined means every other DP of the registry. */
  witnesses?: readonly string[];
}

export const defaultClockSkew = 300;

export function trustsIssuer(policy: TrustPolicy, issuer: string): boolean {
  return policy.trustedIssuers === undefined || policy.trustedIssuers.includes(issuer);
}

export function meetsLevel(policy: TrustPolicy, level: PossessionLevel): boolean {
  return policy.minLevel === undefined || levelRank[level] >= levelRank[policy.minLevel];
}
