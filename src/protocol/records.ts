import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MimiError } from './errors.js';

/**
 * Wire records: one TypeBox schema each gives both the TypeScript type and the runtime check
 * (STYLE.md §2). Every record carries `v`; unknown versions are rejected before anything else.
 * Times are whole seconds since the Unix epoch. Over 400 lines because it is the table of record
 * schemas, one declaration each, kept together so that every record's shape is read in one place.
 */
export const RecordVersion = 1;

/**
 * A mapping body is at version 2 since the MSP's countersignature covers the holder's signature
 * too (purpose `mapping-countersign`, docs/spec/signatures.md); version 1 bodies, whose MSP
 * signature covers the body alone, are still verified where they were accepted before (stored,
 * served, replicated), but a DP refuses new ones (`version-retired`).
 */
export const MappingBodyVersion = 2;
/** Every version some record of this implementation speaks; any other `v` is `unknown-version`. */
const KnownVersions: readonly unknown[] = [RecordVersion, MappingBodyVersion];

export const PossessionMethod = {
  SmsOtp: 'sms-otp',
  EmailOtp: 'email-otp',
  CsipToken: 'csip-token',
  /** R29: control of a native identifier's domain, by an ACME-style DNS challenge (RFC 8555 §8.4). */
  Dns01: 'dns-01',
} as const;
export type PossessionMethod = (typeof PossessionMethod)[keyof typeof PossessionMethod];

/**
 * Possession levels, weakest first (R17: a stricter proof can displace an older holder).
 *
 * @example
 * const policy: TrustPolicy = { minLevel: PossessionLevel.Otp };
 */
export const PossessionLevel = { Otp: 'otp', Csip: 'csip' } as const;
export type PossessionLevel = (typeof PossessionLevel)[keyof typeof PossessionLevel];
export const levelRank: Record<PossessionLevel, number> = { otp: 1, csip: 2 };
export const levelOfMethod: Record<PossessionMethod, PossessionLevel> = {
  'sms-otp': 'otp',
  'email-otp': 'otp',
  'csip-token': 'csip',
  // A challenge the verifier runs, answered by whoever controls the domain: like a code, not a CSIP token.
  'dns-01': 'otp',
};

export const DefaultTag = 'Default';

const V = Type.Literal(RecordVersion);
export const PublicKeyB64 = Type.String({ pattern: '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$' });
export const SignatureB64 = Type.String({ pattern: '^[A-Za-z0-9_-]{85}[AQgw]$' });
export const DigestB64 = Type.String({ pattern: '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$' });
export const ParticipantId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?$' });
const CsiUri = Type.String({ minLength: 5, maxLength: 330 });
const Time = Type.Integer({ minimum: 0, maximum: 2 ** 40 });
const Tag = Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' });

/**
 * A verifier's or CSIP's signed statement that a holder key possesses a CSI (R1).
 *
 * @example
 * const attestation: PossessionAttestation = await holder.answerChallenge(challengeId, code);
 */
export const PossessionAttestation = Type.Object(
  {
    v: V,
    csi: CsiUri,
    holderKey: PublicKeyB64,
    method: Type.Union(Object.values(PossessionMethod).map((m) => Type.Literal(m))),
    level: Type.Union(Object.values(PossessionLevel).map((l) => Type.Literal(l))),
    issuer: ParticipantId,
    issuedAt: Time,
    expiresAt: Time,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type PossessionAttestation = Static<typeof PossessionAttestation>;

/**
 * What the holder signs (R6): CSI, MSP, SSI, tag, priority, holder key, times.
 *
 * @example
 * const { csi, msp, ssi }: MappingBody = signed.body;
 */
export const MappingBody = Type.Object(
  {
    v: Type.Union([V, Type.Literal(MappingBodyVersion)]),
    csi: CsiUri,
    /** null together with ssi: the holder's signed opt-out (R14, R25). */
    msp: Type.Union([ParticipantId, Type.Null()]),
    ssi: Type.Union([Type.String({ maxLength: 400 }), Type.Null()]),
    tag: Tag,
    /** Lower is preferred, as in RFC 7553 URI records. */
    priority: Type.Integer({ minimum: 0, maximum: 65535 }),
    holderKey: PublicKeyB64,
    /** Digest of the signed possession attestation this mapping stands on. */
    attestation: DigestB64,
    createdAt: Time,
    expiresAt: Time,
    supersedes: Type.Union([DigestB64, Type.Null()]),
  },
  { additionalProperties: false },
);
export type MappingBody = Static<typeof MappingBody>;

/**
 * What an MSP (or, for an opt-out, the holder) submits to a DP.
 *
 * @example
 * const submission: MappingSubmission = await agent.confirm(signed);
 */
export const MappingSubmission = Type.Object(
  {
    body: MappingBody,
    attestation: PossessionAttestation,
    holderSig: Type.Optional(SignatureB64),
    mspSig: Type.Optional(Type.Union([SignatureB64, Type.Null()])),
  },
  { additionalProperties: false },
);
export type MappingSubmission = Static<typeof MappingSubmission>;

/** POST /v1/mappings/batch: the envelope; each submission is decoded on its own, so one bad item fails alone. */
export const SubmissionBatch = Type.Object(
  { v: Type.Literal(1), submissions: Type.Array(Type.Unknown()) },
  { additionalProperties: false },
);

/**
 * The verifiable mapping: body, possession evidence, holder, MSP and DP signatures (R3).
 *
 * @example
 * const ssi = (result.mappings[0]?.mapping satisfies Mapping | undefined)?.body.ssi;
 */
export const Mapping = Type.Object(
  {
    v: V,
    body: MappingBody,
    attestation: PossessionAttestation,
    holderSig: Type.Optional(SignatureB64),
    mspSig: Type.Optional(Type.Union([SignatureB64, Type.Null()])),
    dp: ParticipantId,
    acceptedAt: Time,
    /** Position in the DP's transparency log; null until the log is enabled. */
    logIndex: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    dpSig: Type.Optional(SignatureB64),
  },
  { additionalProperties: false },
);
export type Mapping = Static<typeof Mapping>;

export const Invalidation = Type.Object(
  {
    v: V,
    csi: CsiUri,
    holderKey: PublicKeyB64,
    /** A mapping id, or null for every mapping the holder has for this CSI. */
    target: Type.Union([DigestB64, Type.Null()]),
    issuedAt: Time,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type Invalidation = Static<typeof Invalidation>;

export const KeyRotation = Type.Object(
  {
    v: V,
    csi: CsiUri,
    oldKey: PublicKeyB64,
    newKey: PublicKeyB64,
    issuedAt: Time,
    oldSig: SignatureB64,
    newSig: SignatureB64,
  },
  { additionalProperties: false },
);
export type KeyRotation = Static<typeof KeyRotation>;

/** The incumbent holder proves possession again while a newer holder contests the CSI (R17). */
export const Reaffirmation = Type.Object(
  {
    v: V,
    csi: CsiUri,
    holderKey: PublicKeyB64,
    attestation: PossessionAttestation,
    issuedAt: Time,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type Reaffirmation = Static<typeof Reaffirmation>;

/**
 * R28: a holder reads one of its mappings by id (any state), signed with a current key of the
 * mapping's holder (purpose `holder-read`); anyone else is answered as for an id that does not exist.
 */
const Nonce = Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' });

export const HolderRead = Type.Object(
  {
    v: V,
    csi: CsiUri,
    holderKey: PublicKeyB64,
    mapping: DigestB64,
    issuedAt: Time,
    /** Random: two reads in one second are two requests, not a replay. */
    nonce: Nonce,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type HolderRead = Static<typeof HolderRead>;

/**
 * R28: a holder asks for its CSI's log pseudonym (purpose `log-pseudonym`), backed by a current
 * attestation of possession for this CSI and this key: the pseudonym is per CSI, so any holder who
 * proves possession sees every entry about it, whatever key made them.
 */
export const PseudonymRequest = Type.Object(
  {
    v: V,
    csi: CsiUri,
    holderKey: PublicKeyB64,
    attestation: PossessionAttestation,
    issuedAt: Time,
    /** Random: two reads in one second are two requests, not a replay. */
    nonce: Nonce,
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type PseudonymRequest = Static<typeof PseudonymRequest>;

export const ParticipantRole = { Msp: 'msp', Dp: 'dp' } as const;
export type ParticipantRole = (typeof ParticipantRole)[keyof typeof ParticipantRole];

/** A registered participant asks for a session token, signed once with its registry key (R23). */
export const SessionRequest = Type.Object(
  {
    v: V,
    participant: ParticipantId,
    role: Type.Union(Object.values(ParticipantRole).map((r) => Type.Literal(r))),
    audience: ParticipantId,
    issuedAt: Time,
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }),
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type SessionRequest = Static<typeof SessionRequest>;

export const LookupFormat = { Verbose: 'verbose', Compact: 'compact' } as const;
export type LookupFormat = (typeof LookupFormat)[keyof typeof LookupFormat];

/**
 * POST /v1/lookup (R9, R10, R15): the CSIs, the format and the federation's reach.
 *
 * @example
 * const request: LookupRequest = { v: 1, csis: ['tel:+14155550101'], format: 'compact' };
 */
export const LookupRequest = Type.Object(
  {
    v: V,
    csis: Type.Array(Type.String({ minLength: 1, maxLength: 330 }), { minItems: 1 }),
    format: Type.Optional(Type.Union([Type.Literal('verbose'), Type.Literal('compact')])),
    /**
     * Verbose answers: each mapping's proof whole (`inline`, the default), or what proofs share
     * sent once per answer (`shared`: the answer's `logShared` tables, docs/spec/api.md).
     */
    proofs: Type.Optional(Type.Union([Type.Literal('inline'), Type.Literal('shared')])),
    mspFilter: Type.Optional(Type.Array(ParticipantId, { maxItems: 256 })),
    /** R10: ask the federation's other DPs too; absent means the DP's published default (R11). */
    federation: Type.Optional(Type.Boolean()),
    /** R10: which DPs: the DP's preferred peers, every DP of the registry, or these ids. */
    dpList: Type.Optional(
      Type.Union([
        Type.Literal('preferred'),
        Type.Literal('all'),
        Type.Array(ParticipantId, { minItems: 1, maxItems: 64 }),
      ]),
    ),
  },
  { additionalProperties: false },
);
export type LookupRequest = Static<typeof LookupRequest>;

/** A lookup one DP forwards to a peer: answered from the peer's own store only (one hop). */
export const ForwardedLookup = Type.Object(
  {
    v: V,
    origin: ParticipantId,
    csis: Type.Array(CsiUri, { minItems: 1 }),
    mspFilter: Type.Optional(Type.Array(ParticipantId, { maxItems: 256 })),
    /** What the origin may still spend; 0 hops: the peer must not forward it again. */
    budget: Type.Object({ hops: Type.Literal(0) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type ForwardedLookup = Static<typeof ForwardedLookup>;

export const CsipEventKind = {
  Disconnected: 'disconnected',
  Reassigned: 'reassigned',
  Ported: 'ported',
} as const;
export type CsipEventKind = (typeof CsipEventKind)[keyof typeof CsipEventKind];

/**
 * R16, R24: a number event signed by the CSIP that issues the CSI. `at` is when it happened:
 * possession proved before it no longer counts (disconnected, reassigned). A port names the
 * donor and recipient number providers; those that are MSPs of the registry lose or may gain.
 */
export const CsipEvent = Type.Object(
  {
    v: V,
    csi: CsiUri,
    kind: Type.Union(Object.values(CsipEventKind).map((k) => Type.Literal(k))),
    at: Time,
    issuer: ParticipantId,
    donor: Type.Optional(Type.Union([ParticipantId, Type.Null()])),
    recipient: Type.Optional(Type.Union([ParticipantId, Type.Null()])),
    sig: SignatureB64,
  },
  { additionalProperties: false },
);
export type CsipEvent = Static<typeof CsipEvent>;

export const FederationEventKind = {
  /** R18: the first mapping of a new holder, or the reply "an older holder is here". */
  Mapping: 'mapping',
  Invalidation: 'invalidation',
  KeyRotation: 'key-rotation',
  Reaffirmation: 'reaffirmation',
  CsipEvent: 'csip-event',
} as const;
export type FederationEventKind = (typeof FederationEventKind)[keyof typeof FederationEventKind];

/**
 * What DPs send each other through the outbox. The payload is a record signed by the party who
 * made it (DP, holder or CSIP), so a peer verifies it without trusting the DP that relays it.
 */
export const FederationEvent = Type.Object(
  {
    v: V,
    /** Digest of kind and payload: the same event has the same id everywhere (idempotence). */
    id: DigestB64,
    origin: ParticipantId,
    kind: Type.Union(Object.values(FederationEventKind).map((k) => Type.Literal(k))),
    payload: Type.Unknown(),
    issuedAt: Time,
  },
  { additionalProperties: false },
);
export type FederationEvent = Static<typeof FederationEvent>;

export const NoticeKind = { Contested: 'contested', Displaced: 'displaced', Removed: 'removed' } as const;
export type NoticeKind = (typeof NoticeKind)[keyof typeof NoticeKind];

/**
 * What a DP tells an MSP about one of its users' mappings: the mapping id and what happened,
 * nothing more (no CSI, no SSI); the MSP knows which user the id belongs to.
 */
export const Notice = Type.Object(
  {
    v: V,
    id: DigestB64,
    dp: ParticipantId,
    msp: ParticipantId,
    kind: Type.Union(Object.values(NoticeKind).map((k) => Type.Literal(k))),
    mappingId: DigestB64,
    /** For a contest: until when the holder can prove possession again. */
    deadline: Type.Union([Time, Type.Null()]),
    at: Time,
  },
  { additionalProperties: false },
);
export type Notice = Static<typeof Notice>;

/**
 * R14: every answer tells these four apart.
 *
 * @example
 * if (result.status === LookupStatus.OptOut) return;
 */
export const LookupStatus = { None: 'none', OptOut: 'opt-out', One: 'one', Several: 'several' } as const;
export type LookupStatus = (typeof LookupStatus)[keyof typeof LookupStatus];

export const ChallengeRequest = Type.Object(
  { v: V, csi: Type.String({ minLength: 1, maxLength: 330 }), holderKey: PublicKeyB64 },
  { additionalProperties: false },
);
export type ChallengeRequest = Static<typeof ChallengeRequest>;

export const ChallengeAnswer = Type.Object(
  { v: V, code: Type.String({ pattern: '^[0-9]{6,10}$' }) },
  { additionalProperties: false },
);
export type ChallengeAnswer = Static<typeof ChallengeAnswer>;

/** R29: asks the verifier to look up the dns-01 record now. */
export const ChallengeCheck = Type.Object({ v: V }, { additionalProperties: false });
export type ChallengeCheck = Static<typeof ChallengeCheck>;

// ---- decoding -------------------------------------------------------------------------------

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/**
 * Check `value` against `schema`: `unknown-version` when `v` is not ours, `record-invalid` naming
 * the first offending field otherwise.
 */
export function decodeRecord<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MimiError('record-invalid', `${what} must be a JSON object`);
  }
  const version = foreignVersion(value, 0);
  if (version !== undefined) {
    throw new MimiError(
      'unknown-version',
      `${what} has a record of version ${version}; this DP speaks v${KnownVersions.join(', v')}`,
    );
  }
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    const path = first?.path || '/';
    // A version we speak, but not for this record (a v2 invalidation): still a version we do not
    // know. A missing `v` is a schema error like any other.
    if (path.endsWith('/v') && first?.value !== undefined) {
      throw new MimiError('unknown-version', `${what}${path}: not a version of this record`, {
        pointer: path,
      });
    }
    throw new MimiError('record-invalid', `${what}${path}: ${first?.message ?? 'invalid'}`, {
      pointer: path,
    });
  }
  return value as Static<S>;
}

/** The first `v` that is present but not ours, in the record or the records nested in it. */
function foreignVersion(value: unknown, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || depth > 3) return undefined;
  const record = value as Record<string, unknown>;
  if ('v' in record && !KnownVersions.includes(record.v)) return JSON.stringify(record.v) ?? 'undefined';
  for (const child of Object.values(record)) {
    const found = foreignVersion(child, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function unsignedAttestation(a: PossessionAttestation): Omit<PossessionAttestation, 'sig'> {
  const { sig: _sig, ...rest } = a;
  return rest;
}
