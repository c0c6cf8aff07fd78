import { createHmac } from 'node:crypto';
import type { SigningKey } from '../crypto/keys.js';
import { sealToEd25519 } from '../crypto/seal.js';
import { SignPurpose, signObject } from '../crypto/sign.js';
import { type LogReceipt, logReceiptInfo } from '../protocol/answers.js';
import type { StoreTx } from '../store/store.js';

/** A CSI's pseudonymous index in the transparency log, and the key epoch it was computed under. */
export interface LogPseudonym {
  /** Always 0: the DP's keyed hash (leaves of logs older than this rule may carry an OPRF epoch). */
  epoch: number;
  pseudonym: Uint8Array;
}

/**
 * R28: the one place that turns a CSI into its log pseudonym. Only the DP can compute it; a holder
 * learns it from the DP, in the sealed receipt of an acceptance or on a holder-signed request
 * backed by a current attestation (POST /v1/holder/log-pseudonym). Nothing a third party can
 * evaluate (the OPRF's anonymous tier, an MSP session) leads to it.
 */
export interface PseudonymSource {
  pseudonymFor(tx: StoreTx, csi: string): Promise<LogPseudonym>;
}

const label = 'mimi-discovery/v1/log-pseudonym\n';

/**
 * HMAC-SHA256 under the DP's log-pseudonym secret (`log.pseudonymKeyFile`, one for every node of
 * the DP), whatever the private-lookup setting: an OPRF-derived pseudonym would let anyone who can
 * have the OPRF evaluated follow a known number's whole history (R28).
 */
export class KeyedPseudonyms implements PseudonymSource {
  private readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length < 32) throw new TypeError('the pseudonym key must be at least 32 bytes');
    this.key = key;
  }

  async pseudonymFor(_tx: StoreTx | undefined, csi: string): Promise<LogPseudonym> {
    return this.of(csi);
  }

  of(csi: string): LogPseudonym {
    const pseudonym = Uint8Array.from(createHmac('sha256', this.key).update(label).update(csi).digest());
    return { epoch: 0, pseudonym };
  }
}

/**
 * The DP-signed receipt of an acceptance: the CSI's pseudonym sealed to the mapping's holder key,
 * so the MSP relaying the answer cannot read it, and signed over the seal, the mapping and the
 * holder key so it cannot swap in another or move this one.
 *
 * @throws {MimiError} `key-invalid` for a holder key libsodium cannot seal to.
 */
export function logReceipt(opts: {
  dp: string;
  dpKey: SigningKey;
  mappingId: string;
  holderKey: string;
  pseudonym: Uint8Array;
}): LogReceipt {
  const unsigned = {
    v: 1 as const,
    dp: opts.dp,
    mapping: opts.mappingId,
    holderKey: opts.holderKey,
    sealed: sealToEd25519(opts.holderKey, opts.pseudonym, logReceiptInfo(opts.mappingId)),
  };
  return { ...unsigned, sig: signObject(SignPurpose.LogReceipt, unsigned, opts.dpKey) };
}
