import type { SigningKey } from '../crypto/keys.js';
import { SignPurpose, signObject } from '../crypto/sign.js';
import { levelOfMethod, type PossessionAttestation, type PossessionMethod } from '../protocol/records.js';

export interface AttestationInput {
  csi: string;
  holderKey: string;
  method: PossessionMethod;
  issuer: string;
  issuedAt: number;
  lifetimeSeconds: number;
}

/**
 * Signs a possession attestation (R1, R5). Verifiers call it after a passed challenge; a CSIP
 * calls it with method 'csip-token' to issue the stricter possession token (R17).
 */
export function signAttestation(input: AttestationInput, key: SigningKey): PossessionAttestation {
  const unsigned = {
    v: 1 as const,
    csi: input.csi,
    holderKey: input.holderKey,
    method: input.method,
    level: levelOfMethod[input.method],
    issuer: input.issuer,
    issuedAt: input.issuedAt,
    expiresAt: input.issuedAt + input.lifetimeSeconds,
  };
  return { ...unsigned, sig: signObject(SignPurpose.Attestation, unsigned, key) };
}
