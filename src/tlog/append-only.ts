import { fromB64u } from '../protocol/encoding.js';
import { ForkCode } from '../protocol/errors.js';
import { isTlogError } from './errors.js';
import { verifyConsistency } from './merkle.js';

/** Why a checkpoint presented is a fork of the one seen before: its code, and the evidence's reason. */
export interface Fork {
  code: ForkCode;
  reason: string;
}

/** A tree head: its size and root hash. */
export interface TreeHead {
  size: number;
  rootHash: Uint8Array;
}

/** Whether going from `last` to `next` needs a consistency proof (a bigger, non-empty old tree). */
export function consistencyDue(last: TreeHead, next: TreeHead): boolean {
  return next.size > last.size && last.size > 0;
}

/**
 * RFC 9162 §2.1.4.2 between the last tree head seen and the one presented, with the consistency
 * proof given for them (base64url hashes, or null when none came): undefined when the new tree
 * extends the old one, else the fork's code and the evidence's reason. Witnesses
 * (rounds and add-checkpoint) and auditors (`log audit`, `log monitor`) all judge with it.
 */
export function checkAppendOnly(
  last: TreeHead,
  next: TreeHead,
  consistency: readonly string[] | null,
): Fork | undefined {
  const fork = (code: ForkCode, reason: string): Fork => ({ code, reason });
  if (next.size < last.size) {
    return fork(ForkCode.Shrunk, `the log shrank from ${last.size} to ${next.size} leaves`);
  }
  if (next.size === last.size) {
    return sameBytes(next.rootHash, last.rootHash)
      ? undefined
      : fork(ForkCode.RootMismatch, `two different roots for ${next.size} leaves`);
  }
  if (last.size === 0) return undefined;
  if (consistency === null) {
    return fork(ForkCode.ProofMissing, `no consistency proof from ${last.size} to ${next.size}`);
  }
  try {
    verifyConsistency(
      last.size,
      next.size,
      last.rootHash,
      next.rootHash,
      consistency.map((h, i) => fromB64u(h, `consistency[${i}]`, 32)),
    );
    return undefined;
  } catch (err) {
    const reason = isTlogError(err)
      ? `not consistent with the checkpoint of ${last.size} leaves: ${err.message}`
      : `malformed consistency proof: ${(err as Error).message}`;
    return fork(ForkCode.Inconsistent, reason);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
