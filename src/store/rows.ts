import type { PossessionMethod } from '../protocol/records.js';
import type { Challenge, ChallengeState, OprfEpoch, OprfEpochState } from './store.js';

/** An OPRF epoch row as both backends store it (same column names and types). */
export interface EpochRow {
  id: number;
  state: string;
  sealed_key: Buffer;
  public_key: Buffer;
  bucket_bits: number;
  pad_to: number;
  dummy_length: number;
  min_bucket: number | null;
  build_cursor: string | null;
  created_at: number;
  activated_at: number | null;
  retire_at: number | null;
}

export function toEpoch(r: EpochRow): OprfEpoch {
  return {
    id: r.id,
    state: r.state as OprfEpochState,
    sealedKey: new Uint8Array(r.sealed_key),
    publicKey: new Uint8Array(r.public_key),
    bucketBits: r.bucket_bits,
    padTo: r.pad_to,
    dummyLength: r.dummy_length,
    minBucket: r.min_bucket,
    buildCursor: r.build_cursor,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    retireAt: r.retire_at,
  };
}

/** Epoch fields that may be updated, and their columns. */
export const epochColumns: Record<string, string> = {
  state: 'state',
  bucketBits: 'bucket_bits',
  padTo: 'pad_to',
  dummyLength: 'dummy_length',
  minBucket: 'min_bucket',
  buildCursor: 'build_cursor',
  activatedAt: 'activated_at',
  retireAt: 'retire_at',
};

/** A challenge row as both backends store it. */
export function toChallenge(r: Record<string, unknown>): Challenge {
  return {
    id: r.id as string,
    csi: r.csi as string,
    holderKey: r.holder_key as string,
    method: r.method as PossessionMethod,
    codeHash: r.code_hash as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    attempts: r.attempts as number,
    state: r.state as ChallengeState,
  };
}
