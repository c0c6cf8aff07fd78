import { type Static, Type } from '@sinclair/typebox';
import {
  DigestB64,
  Mapping,
  ParticipantId,
  PossessionAttestation,
  PublicKeyB64,
  SignatureB64,
} from './records.js';
import { LogSharedTables, MappingLogProof, SharedLogProof } from './transparency.js';

/** Lookup answers as they travel (R14, R15); the SDK checks every answer against these. */
/** R15: which DPs answered a federated lookup, and how (ok, timeout, error, rate-limited, unavailable). */
export const PeerReports = Type.Array(
  Type.Object({
    dp: ParticipantId,
    status: Type.String({ maxLength: 32 }),
    code: Type.Optional(Type.String({ maxLength: 64 })),
    ms: Type.Optional(Type.Number()),
  }),
  { maxItems: 256 },
);

const Status = Type.Union([
  Type.Literal('none'),
  Type.Literal('opt-out'),
  Type.Literal('one'),
  Type.Literal('several'),
]);

/**
 * A verbose lookup answer (R14, R15): each CSI's signed mappings and their log proofs.
 *
 * @example
 * const results = verifyVerboseAnswer(answer satisfies VerboseAnswer, { asked, registry });
 */
export const VerboseAnswer = Type.Object({
  v: Type.Literal(1),
  format: Type.Literal('verbose'),
  dp: ParticipantId,
  results: Type.Array(
    Type.Object({
      query: Type.String(),
      csi: Type.String(),
      status: Status,
      mappings: Type.Array(
        Type.Object({
          id: DigestB64,
          dps: Type.Array(ParticipantId, { minItems: 1 }),
          mapping: Mapping,
          /** R3: the mapping's inclusion proof in the log of the DP that accepted it. */
          log: Type.Optional(MappingLogProof),
        }),
      ),
    }),
  ),
  peers: Type.Optional(PeerReports),
});
export type VerboseAnswer = Static<typeof VerboseAnswer>;

/**
 * A verbose answer to a lookup that asked `proofs: "shared"`: each mapping's proof names its
 * checkpoint and hashes by position in the answer's `logShared` tables, each sent once.
 *
 * @example
 * const results = verifyVerboseAnswer(shared, { asked, registry }); // shared proofs are inlined first
 */
export const SharedVerboseAnswer = Type.Object({
  ...VerboseAnswer.properties,
  results: Type.Array(
    Type.Object({
      ...VerboseAnswer.properties.results.items.properties,
      mappings: Type.Array(
        Type.Object({
          ...VerboseAnswer.properties.results.items.properties.mappings.items.properties,
          log: Type.Optional(SharedLogProof),
        }),
      ),
    }),
  ),
  logShared: LogSharedTables,
});
export type SharedVerboseAnswer = Static<typeof SharedVerboseAnswer>;

/**
 * A compact lookup answer (R15): each CSI's MSPs as bits in the registry's positions.
 *
 * @example
 * const results = decodeCompactAnswer(answer satisfies CompactAnswer, registry);
 */
export const CompactAnswer = Type.Object({
  v: Type.Literal(1),
  format: Type.Literal('compact'),
  dp: ParticipantId,
  registrySerial: Type.Integer({ minimum: 1 }),
  bitLength: Type.Integer({ minimum: 0 }),
  results: Type.Array(
    Type.Object({
      query: Type.String(),
      csi: Type.String(),
      status: Status,
      bits: Type.String({ pattern: '^[A-Za-z0-9_-]*$' }),
    }),
  ),
  peers: Type.Optional(PeerReports),
});
export type CompactAnswer = Static<typeof CompactAnswer>;

/** 112 bytes: a libsodium sealed box (48) of SHA-256(info) (32) and the pseudonym (32). */
const SealedPseudonym = Type.String({ pattern: '^[A-Za-z0-9_-]{149}[AQgw]$' });

/**
 * R28: the DP's signed receipt in an acceptance (purpose `log-receipt`): the CSI's log pseudonym,
 * in a libsodium sealed box to the mapping's holder key (src/crypto/seal.ts, context
 * `logReceiptInfo(mapping)`), so the MSP that relays the answer cannot read it and only that
 * holder can find the CSI's entries. The DP's signature covers the sealed bytes with the mapping
 * and holder key they are for, so the MSP can neither swap in a seal of its own nor move this one.
 *
 * @example
 * const pseudonym = holder.openReceipt(accepted.receipt!, { mappingId: accepted.id, registry });
 */
export const LogReceipt = Type.Object(
  {
    v: Type.Literal(1),
    dp: ParticipantId,
    mapping: DigestB64,
    holderKey: PublicKeyB64,
    sealed: SealedPseudonym,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type LogReceipt = Static<typeof LogReceipt>;

/** What binds a sealed pseudonym to the mapping it came with (its SHA-256 is inside the seal). */
export function logReceiptInfo(mappingId: string): string {
  return `mimi-discovery/v1/log-receipt\n${mappingId}`;
}

/**
 * The DP's answer to an accepted submission: the countersigned mapping (R3).
 *
 * @example
 * const { id, state, mapping } = await agent.submit(submission);
 */
export const AcceptAnswer = Type.Object({
  id: DigestB64,
  state: Type.Union([Type.Literal('active'), Type.Literal('contested')]),
  mapping: Mapping,
  duplicate: Type.Boolean(),
  /** Present when the DP keeps a transparency log; older DPs omit it. */
  receipt: Type.Optional(LogReceipt),
});
export type AcceptAnswer = Static<typeof AcceptAnswer>;

export const AttestationAnswer = Type.Object({ attestation: PossessionAttestation });
export type AttestationAnswer = Static<typeof AttestationAnswer>;

/**
 * A started possession challenge (R1, R29): its id, method and channel.
 *
 * @example
 * const { challengeId, dns } = await holder.startChallenge('mimi:alice@example.net');
 */
export const ChallengeStarted = Type.Object({
  challengeId: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }),
  method: Type.String(),
  expiresAt: Type.Integer(),
  channel: Type.String(),
  /** R29, dns-01: the TXT record to publish (name and value) and the token it is made from. */
  dns: Type.Optional(
    Type.Object({
      name: Type.String({ maxLength: 253 }),
      token: Type.String({ pattern: '^[A-Za-z0-9_-]{22,64}$' }),
      value: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    }),
  ),
});
export type ChallengeStarted = Static<typeof ChallengeStarted>;

export const SessionAnswer = Type.Object({
  token: Type.String({ maxLength: 512 }),
  participant: ParticipantId,
  role: Type.String(),
  expiresAt: Type.Integer(),
});
export type SessionAnswer = Static<typeof SessionAnswer>;

/**
 * R28: the answer to POST /v1/holder/log-pseudonym: the CSI's pseudonym in this DP's log (leaf epoch 0).
 *
 * @example
 * const { pseudonym } = await holder.logPseudonym(attestation);
 */
export const PseudonymAnswer = Type.Object(
  {
    v: Type.Literal(1),
    dp: ParticipantId,
    csi: Type.String(),
    pseudonym: DigestB64,
    epoch: Type.Literal(0),
  },
  { additionalProperties: false },
);
export type PseudonymAnswer = Static<typeof PseudonymAnswer>;

/**
 * A stored mapping as its MSP or holder reads it (GET /v1/mappings/:id, POST /v1/holder/mapping).
 *
 * @example
 * const { state, mapping } = await holder.readMapping(csi, id);
 */
export const MappingAnswer = Type.Object({
  id: DigestB64,
  state: Type.String({ maxLength: 32 }),
  mapping: Mapping,
});
export type MappingAnswer = Static<typeof MappingAnswer>;

/** POST /v1/mappings/batch: counts, and one result per submission in the order sent. */
export const SubmissionBatchAnswer = Type.Object({
  v: Type.Literal(1),
  accepted: Type.Integer({ minimum: 0 }),
  duplicates: Type.Integer({ minimum: 0 }),
  rejected: Type.Integer({ minimum: 0 }),
  results: Type.Array(
    Type.Union([
      Type.Object({
        index: Type.Integer({ minimum: 0 }),
        status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate')]),
        ...AcceptAnswer.properties,
        duplicate: Type.Optional(Type.Boolean()),
      }),
      Type.Object({
        index: Type.Integer({ minimum: 0 }),
        status: Type.Literal('rejected'),
        problem: Type.Object({
          type: Type.String(),
          status: Type.Integer(),
          code: Type.String(),
          detail: Type.String(),
        }),
      }),
    ]),
  ),
});
export type SubmissionBatchAnswer = Static<typeof SubmissionBatchAnswer>;

/**
 * POST /v1/holder/invalidate: the ids of the mappings it ended.
 *
 * @example
 * const { invalidated } = await holder.invalidate(csi, null);
 */
export const InvalidationAnswer = Type.Object({ invalidated: Type.Array(Type.String()) });
export type InvalidationAnswer = Static<typeof InvalidationAnswer>;
/**
 * POST /v1/holder/reaffirm: the ids of the contesting mappings that lost (R17).
 *
 * @example
 * const { lost } = await holder.reaffirm(attestation);
 */
export const ReaffirmationAnswer = Type.Object({ lost: Type.Array(Type.String()) });
export type ReaffirmationAnswer = Static<typeof ReaffirmationAnswer>;
/** POST /v1/holder/rotate. */
export const RotationAnswer = Type.Object({ rotated: Type.Literal(true) });
export type RotationAnswer = Static<typeof RotationAnswer>;
/** POST /v1/csip/events: the ids of the mappings the event removed; 200 for an event already applied. */
export const CsipEventAnswer = Type.Object({ removed: Type.Array(Type.String()), duplicate: Type.Boolean() });
export type CsipEventAnswer = Static<typeof CsipEventAnswer>;

/** POST /v1/federation/events: the event's id and what the receiving DP made of it. */
export const EventAck = Type.Object({ id: Type.String(), outcome: Type.String() });
export type EventAck = Static<typeof EventAck>;

/** GET /healthz: the process is alive. */
export const HealthAnswer = Type.Object({ ok: Type.Literal(true) });
/** GET /readyz when ready: every check's result by name (a failing one answers problem+json). */
export const ReadyAnswer = Type.Object({
  ready: Type.Literal(true),
  checks: Type.Record(Type.String(), Type.String()),
});

/**
 * An object whose members the spec describes in prose (docs/spec/api.md): open, and declared so,
 * since the answer is serialised through this schema and a closed one would drop them.
 */
const Open = () => Type.Object({}, { additionalProperties: true });
const Section = Type.Union([Open(), Type.Null()]);
/**
 * GET /.well-known/mimi-discovery (R11): who the DP is, its keys, modes, defaults and limits. The
 * sections' members are described in docs/spec/api.md; a section is null where the DP runs no such
 * part (private lookup, transparency log, verifier).
 */
export const DpMetadata = Type.Object({
  v: Type.Literal(1),
  id: ParticipantId,
  federation: Type.String(),
  /** Every public key the node signs with (one per usage; one only under a version 1 registry). */
  keys: Type.Array(PublicKeyB64, { minItems: 1 }),
  /** The key the node signs with for each registry key usage (docs/spec/registry.md §8.1.1). */
  keysByUsage: Type.Object(
    { records: PublicKeyB64, transport: PublicKeyB64, log: PublicKeyB64 },
    { additionalProperties: false },
  ),
  registrySerial: Type.Integer({ minimum: 0 }),
  modes: Type.Array(Type.Union([Type.Literal('msp-proxied'), Type.Literal('private')])),
  formats: Type.Array(Type.Union([Type.Literal('verbose'), Type.Literal('compact')])),
  defaults: Type.Object({
    federation: Type.Boolean(),
    format: Type.Union([Type.Literal('verbose'), Type.Literal('compact')]),
    contestWindowSeconds: Type.Integer({ minimum: 0 }),
  }),
  limits: Open(),
  peering: Open(),
  privateLookup: Section,
  transparency: Section,
  verifier: Section,
});
export type DpMetadata = Static<typeof DpMetadata>;
