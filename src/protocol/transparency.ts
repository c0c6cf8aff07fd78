import { type Static, Type } from '@sinclair/typebox';

/**
 * Wire shapes of the transparency log (DESIGN.md "Transparency log"; R3, R6, R19, R28):
 * checkpoints are C2SP signed notes (text), hashes travel as base64url without padding.
 */

/** The log's identity, first line of every checkpoint and the name of the DP's note key. */
export function logOrigin(federation: string, dp: string): string {
  return `mimi-discovery/${federation}/${dp}`;
}

/** The name under which a DP cosigns its peers' checkpoints as a witness (tlog-cosignature). */
export function witnessName(federation: string, dp: string): string {
  return `mimi-discovery/${federation}/witness/${dp}`;
}

const Hash = Type.String({ pattern: '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$' });
const Note = Type.String({ minLength: 1, maxLength: 16_384 });
/** Most leaves per GET /v1/log/leaves. */
export const MAX_LEAVES_PER_REQUEST = 1000;

/**
 * Next to each mapping in a verbose answer: its leaf, the audit path from the leaf at
 * `mapping.logIndex` to the root of `checkpoint`, and that checkpoint as a signed note (with any
 * witness cosignatures). Verifiable by anyone with the registry (R3).
 *
 * @example
 * verifyMappingLogged({ id, mapping, log: log satisfies MappingLogProof }, { registry });
 */
export const MappingLogProof = Type.Object(
  {
    /** The leaf bytes, base64url (canonical JSON; see src/tlog/leaf.ts). */
    leaf: Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 1024 }),
    proof: Type.Array(Hash, { maxItems: 64 }),
    checkpoint: Note,
  },
  { additionalProperties: false },
);
export type MappingLogProof = Static<typeof MappingLogProof>;

/** Bounds of one answer's shared proof tables (a 100-CSI batch of several mappings each fits). */
export const MAX_SHARED_CHECKPOINTS = 256;
export const MAX_SHARED_NODES = 65_536;

/**
 * A mapping's proof in an answer asked with `proofs: "shared"`: the checkpoint and the audit path's
 * hashes are positions in the answer's `logShared` tables (LogSharedTables).
 */
export const SharedLogProof = Type.Object(
  {
    leaf: Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 1024 }),
    checkpoint: Type.Integer({ minimum: 0, maximum: MAX_SHARED_CHECKPOINTS - 1 }),
    proof: Type.Array(Type.Integer({ minimum: 0, maximum: MAX_SHARED_NODES - 1 }), { maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type SharedLogProof = Static<typeof SharedLogProof>;

export const LogSharedTables = Type.Object(
  {
    checkpoints: Type.Array(Note, { maxItems: MAX_SHARED_CHECKPOINTS }),
    nodes: Type.Array(Hash, { maxItems: MAX_SHARED_NODES }),
  },
  { additionalProperties: false },
);
export type LogSharedTables = Static<typeof LogSharedTables>;

export const LeavesAnswer = Type.Object({
  v: Type.Literal(1),
  start: Type.Integer({ minimum: 0 }),
  leaves: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 1024 }), {
    maxItems: MAX_LEAVES_PER_REQUEST,
  }),
});
export type LeavesAnswer = Static<typeof LeavesAnswer>;

export const InclusionAnswer = Type.Object({
  v: Type.Literal(1),
  index: Type.Integer({ minimum: 0 }),
  size: Type.Integer({ minimum: 1 }),
  proof: Type.Array(Hash, { maxItems: 64 }),
});
export type InclusionAnswer = Static<typeof InclusionAnswer>;

export const ConsistencyAnswer = Type.Object({
  v: Type.Literal(1),
  from: Type.Integer({ minimum: 1 }),
  to: Type.Integer({ minimum: 1 }),
  proof: Type.Array(Hash, { maxItems: 128 }),
});
export type ConsistencyAnswer = Static<typeof ConsistencyAnswer>;

/** A witness asks a peer for its latest checkpoint, with a consistency proof from `from`. */
export const WitnessRequest = Type.Object(
  { v: Type.Literal(1), from: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export const WitnessAnswer = Type.Object({
  v: Type.Literal(1),
  checkpoint: Note,
  /** From `from` to the checkpoint's size; null when `from` is 0 or not below that size. */
  consistency: Type.Union([Type.Array(Hash, { maxItems: 128 }), Type.Null()]),
});
export type WitnessAnswer = Static<typeof WitnessAnswer>;

/** A peer asks for the proof of a mapping this DP logged (it serves a copy of it). */
export const ProofRequest = Type.Object(
  { v: Type.Literal(1), index: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);

/** A witness hands back its cosignature on a checkpoint it verified. */
export const CosignatureSubmission = Type.Object(
  { v: Type.Literal(1), checkpoint: Note },
  { additionalProperties: false },
);
export type CosignatureSubmission = Static<typeof CosignatureSubmission>;

/** POST /v1/federation/log/cosignature. */
/** The answer to a ProofRequest: the mapping's inclusion proof as this DP serves it. */
export const MappingProofAnswer = Type.Object({ v: Type.Literal(1), log: MappingLogProof });
export type MappingProofAnswer = Static<typeof MappingProofAnswer>;

export const CosignatureAnswer = Type.Object({ stored: Type.Boolean() });

/** GET /v1/log/witness: the peers' logs this DP witnessed, and any fork it saw (R28). */
export const WitnessReport = Type.Object({
  v: Type.Literal(1),
  witnessed: Type.Array(
    Type.Object({
      dp: Type.String(),
      size: Type.Integer({ minimum: 0 }),
      rootHash: Hash,
      seenAt: Type.Integer(),
    }),
  ),
  forks: Type.Array(
    Type.Object({
      dp: Type.String(),
      detectedAt: Type.Integer(),
      reason: Type.String(),
      evidence: Type.Unknown(),
    }),
  ),
});
