import { type Static, Type } from '@sinclair/typebox';
import { DigestB64, Mapping, ParticipantId, PossessionAttestation } from './records.js';
import { MappingLogProof } from './transparency.js';

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

export const AcceptAnswer = Type.Object({
  id: DigestB64,
  state: Type.Union([Type.Literal('active'), Type.Literal('contested')]),
  mapping: Mapping,
  duplicate: Type.Boolean(),
});
export type AcceptAnswer = Static<typeof AcceptAnswer>;

export const AttestationAnswer = Type.Object({ attestation: PossessionAttestation });

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
