import { type TSchema, Type } from '@sinclair/typebox';
import { RegistryDocument } from '../registry/document.js';
import {
  AcceptAnswer,
  AttestationAnswer,
  ChallengeStarted,
  CompactAnswer,
  CsipEventAnswer,
  DpMetadata,
  EventAck,
  HealthAnswer,
  InvalidationAnswer,
  MappingAnswer,
  PseudonymAnswer,
  ReadyAnswer,
  ReaffirmationAnswer,
  RotationAnswer,
  SessionAnswer,
  SharedVerboseAnswer,
  SubmissionBatchAnswer,
  VerboseAnswer,
} from './answers.js';
import { ErrorCode, problemTypeBase } from './errors.js';
import { BucketsRequest, EpochsAnswer, EvaluateAnswer, EvaluateRequest } from './private.js';
import {
  ChallengeAnswer,
  ChallengeCheck,
  ChallengeRequest,
  CsipEvent,
  FederationEvent,
  ForwardedLookup,
  HolderRead,
  Invalidation,
  KeyRotation,
  LookupRequest,
  Mapping,
  MappingSubmission,
  Notice,
  PossessionAttestation,
  PseudonymRequest,
  Reaffirmation,
  SessionRequest,
  SubmissionBatch,
} from './records.js';
import {
  ConsistencyAnswer,
  CosignatureAnswer,
  CosignatureSubmission,
  InclusionAnswer,
  LeavesAnswer,
  MappingLogProof,
  MappingProofAnswer,
  ProofRequest,
  WitnessAnswer,
  WitnessReport,
  WitnessRequest,
} from './transparency.js';

/** RFC 9457 problem+json, as every error answer is rendered (toProblem, src/protocol/errors.ts). */
export const Problem = Type.Object({
  type: Type.String({ pattern: `^${problemTypeBase}` }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.String(),
  code: Type.Union(Object.values(ErrorCode).map((c) => Type.Literal(c))),
});

/**
 * Every record on the wire, by name: the one table the JSON Schemas (docs/spec/schemas/) and the
 * OpenAPI document (src/server/openapi.ts) are made from. The names are the TypeBox exports', so a
 * route's `bodyOf(req, X, ...)` names its entry here.
 */
export const WireSchemas = {
  // signed records
  PossessionAttestation,
  Mapping,
  MappingSubmission,
  Invalidation,
  KeyRotation,
  Reaffirmation,
  CsipEvent,
  FederationEvent,
  Notice,
  RegistryDocument,
  // request bodies
  SubmissionBatch,
  HolderRead,
  PseudonymRequest,
  SessionRequest,
  LookupRequest,
  ForwardedLookup,
  ChallengeRequest,
  ChallengeAnswer,
  ChallengeCheck,
  EvaluateRequest,
  BucketsRequest,
  WitnessRequest,
  ProofRequest,
  CosignatureSubmission,
  // answers
  DpMetadata,
  VerboseAnswer,
  SharedVerboseAnswer,
  CompactAnswer,
  AcceptAnswer,
  SubmissionBatchAnswer,
  InvalidationAnswer,
  ReaffirmationAnswer,
  RotationAnswer,
  CsipEventAnswer,
  AttestationAnswer,
  ChallengeStarted,
  SessionAnswer,
  PseudonymAnswer,
  MappingAnswer,
  EventAck,
  EpochsAnswer,
  EvaluateAnswer,
  MappingLogProof,
  MappingProofAnswer,
  LeavesAnswer,
  InclusionAnswer,
  ConsistencyAnswer,
  WitnessAnswer,
  WitnessReport,
  CosignatureAnswer,
  HealthAnswer,
  ReadyAnswer,
  Problem,
} satisfies Record<string, TSchema>;
export type WireName = keyof typeof WireSchemas;

export const JsonSchemaDialect = 'https://json-schema.org/draft/2020-12/schema';
/**
 * Stable identifiers, not locations: `<base><Name>.json`; the `v1` is the wire version (`v: 1`).
 * A new wire version gets a new base, so a v1 schema never changes meaning.
 */
export const schemaIdBase = 'https://mimi-discovery.example/schemas/v1/';
export const schemaId = (name: WireName): string => `${schemaIdBase}${name}.json`;

/** The plain JSON of a TypeBox schema (its [Kind] and other symbols dropped). */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

/** One record's JSON Schema 2020-12 document, as written to docs/spec/schemas/<Name>.json. */
export function jsonSchemaOf(name: WireName): Record<string, unknown> {
  return { $schema: JsonSchemaDialect, $id: schemaId(name), title: name, ...plain(WireSchemas[name]) };
}

/** Every record in one 2020-12 document, `$defs` by name (docs/spec/schemas/bundle.json). */
export function jsonSchemaBundle(): Record<string, unknown> {
  const names = Object.keys(WireSchemas) as WireName[];
  return {
    $schema: JsonSchemaDialect,
    $id: `${schemaIdBase}bundle.json`,
    $defs: Object.fromEntries(
      names.map((n) => [n, { $id: schemaId(n), title: n, ...plain(WireSchemas[n]) }]),
    ),
  };
}
