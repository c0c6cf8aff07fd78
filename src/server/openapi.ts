import { JsonSchemaDialect, type WireName, WireSchemas } from '../protocol/wire-schemas.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the wire schema table
 * (src/protocol/wire-schemas.ts) and the one map below, not from fastify route schemas: the routes
 * validate their bodies with bodyOf() and TypeBox, so the map names the schema each route decodes.
 * test/server/openapi.test.ts fails when a route has no entry, an entry has no route, or an entry's
 * body is not the schema the handler decodes. Served at GET /openapi.json; a copy is committed at
 * docs/spec/openapi.json. Over 400 lines because the map is data, one entry of one shape per
 * endpoint; the code that reads it is short.
 */

/**
 * Who may call: nobody in particular, an MSP or DP session, a peer DP signing its request, either;
 * or anyone, with an MSP session or a Privacy Pass token (RFC 9577) optional.
 */
type Auth = 'none' | 'session' | 'session-optional' | 'peer' | 'session-or-token-optional';
/** A body or answer: a wire schema by name, several (oneOf), or a media type that is not JSON. */
type Content = WireName | WireName[] | { media: string; description: string; schema?: object };

interface RouteDoc {
  summary: string;
  auth: Auth;
  /** The body carries its signer's signature (holder, CSIP): no session needed. */
  signedBody?: string;
  body?: Content;
  query?: Record<string, { required: boolean; description: string }>;
  /** Status -> answer; null for an answer without a body (204, 304). */
  responses: Record<number, Content | null | { json: object; description: string }>;
}

const text = (description: string): Content => ({ media: 'text/plain; charset=utf-8', description });
const untyped = (description: string) => ({ json: { type: 'object' }, description });
const integer = (description: string, required = true) => ({ required, description });

/** Every route of buildApp (src/server/app.ts), keyed `METHOD path` as fastify registers it. */
export const RouteDocs: Record<string, RouteDoc> = {
  'GET /openapi.json': {
    summary: 'This document (OpenAPI 3.1)',
    auth: 'none',
    responses: { 200: untyped('the OpenAPI document') },
  },
  'GET /.well-known/mimi-discovery': {
    summary: "The DP's identity, keys, defaults and limits (R11)",
    auth: 'none',
    responses: { 200: 'DpMetadata' },
  },
  'GET /v1/registry': {
    summary: 'The signed registry document this node runs on, byte for byte (R30)',
    auth: 'none',
    responses: { 200: 'RegistryDocument', 304: null },
  },
  'POST /v1/federation/lookup': {
    summary: "A peer DP's forwarded lookup, answered from this DP's store only (R10)",
    auth: 'peer',
    body: 'ForwardedLookup',
    responses: { 200: 'VerboseAnswer' },
  },
  'POST /v1/federation/events': {
    summary: "An event from a peer DP's outbox (R16, R18, R24)",
    auth: 'peer',
    body: 'FederationEvent',
    responses: { 200: 'EventAck' },
  },
  'POST /v1/csip/events': {
    summary: 'A number event from a CSIP (R16, R24)',
    auth: 'none',
    signedBody: 'csip',
    body: 'CsipEvent',
    responses: { 200: 'CsipEventAnswer', 201: 'CsipEventAnswer' },
  },
  'POST /v1/session': {
    summary: 'A signed session request for a short-lived session token (R23)',
    auth: 'none',
    signedBody: 'participant',
    body: 'SessionRequest',
    responses: { 201: 'SessionAnswer' },
  },
  'POST /v1/verifier/challenges': {
    summary: 'Start a possession challenge (R1, R29)',
    auth: 'none',
    body: 'ChallengeRequest',
    responses: { 201: 'ChallengeStarted' },
  },
  'POST /v1/verifier/challenges/:id/answer': {
    summary: 'Answer a challenge with its one-time code (R1)',
    auth: 'none',
    body: 'ChallengeAnswer',
    responses: { 200: 'AttestationAnswer' },
  },
  'POST /v1/verifier/challenges/:id/check': {
    summary: 'Ask for the dns-01 check of a challenge (R29)',
    auth: 'none',
    body: 'ChallengeCheck',
    responses: { 200: 'AttestationAnswer' },
  },
  'POST /v1/mappings': {
    summary: 'Submit a mapping (R2, R3, R21)',
    auth: 'session',
    body: 'MappingSubmission',
    responses: { 200: 'AcceptAnswer', 201: 'AcceptAnswer' },
  },
  'POST /v1/mappings/batch': {
    summary: 'Submit mappings in bulk, each accepted or refused on its own',
    auth: 'session',
    body: 'SubmissionBatch',
    responses: { 200: 'SubmissionBatchAnswer' },
  },
  'GET /v1/mappings/:id': {
    summary: 'A mapping by id, to the MSP it names (R28)',
    auth: 'session',
    responses: { 200: 'MappingAnswer' },
  },
  'POST /v1/holder/mapping': {
    summary: 'A holder reads its own mapping (R28)',
    auth: 'none',
    signedBody: 'holder',
    body: 'HolderRead',
    responses: { 200: 'MappingAnswer' },
  },
  'POST /v1/holder/log-pseudonym': {
    summary: "A holder's CSI's log pseudonym (R28)",
    auth: 'none',
    signedBody: 'holder',
    body: 'PseudonymRequest',
    responses: { 200: 'PseudonymAnswer' },
  },
  'POST /v1/holder/opt-out': {
    summary: 'A holder opts its CSI out (R14, R25)',
    auth: 'none',
    signedBody: 'holder',
    body: 'MappingSubmission',
    responses: { 200: 'AcceptAnswer', 201: 'AcceptAnswer' },
  },
  'POST /v1/holder/invalidate': {
    summary: 'A holder invalidates its mapping',
    auth: 'none',
    signedBody: 'holder',
    body: 'Invalidation',
    responses: { 200: 'InvalidationAnswer' },
  },
  'POST /v1/holder/rotate': {
    summary: 'A holder rotates its key (R19)',
    auth: 'none',
    signedBody: 'holder',
    body: 'KeyRotation',
    responses: { 200: 'RotationAnswer' },
  },
  'POST /v1/holder/reaffirm': {
    summary: 'A holder reaffirms its mapping (R17)',
    auth: 'none',
    signedBody: 'holder',
    body: 'Reaffirmation',
    responses: { 200: 'ReaffirmationAnswer' },
  },
  'POST /v1/lookup': {
    summary: 'MSP-proxied lookup, verbose or compact, local or federated (R9-R11, R15)',
    auth: 'session',
    body: 'LookupRequest',
    responses: { 200: ['VerboseAnswer', 'SharedVerboseAnswer', 'CompactAnswer'] },
  },
  'GET /v1/private/epochs': {
    summary: 'Private lookup: the OPRF epochs and their keys (R11)',
    auth: 'none',
    responses: { 200: 'EpochsAnswer' },
  },
  'POST /v1/private/evaluate': {
    summary:
      'Private lookup: evaluate blinded elements (RFC 9497 VOPRF); paid by an MSP session, a Privacy Pass token, or the address',
    auth: 'session-or-token-optional',
    body: 'EvaluateRequest',
    responses: { 200: 'EvaluateAnswer' },
  },
  'GET /v1/private/buckets/:epoch/:bucket': {
    summary: 'Private lookup: one bucket of sealed entries',
    auth: 'none',
    responses: {
      200: {
        media: 'application/vnd.mimi-discovery.bucket',
        description: 'the bucket (docs/spec/private-lookup.md)',
      },
      304: null,
    },
  },
  'POST /v1/private/buckets': {
    summary: 'Private lookup: several buckets of one epoch',
    auth: 'none',
    body: 'BucketsRequest',
    responses: {
      200: {
        media: 'application/vnd.mimi-discovery.buckets',
        description: 'the buckets (docs/spec/private-lookup.md)',
      },
    },
  },
  'GET /v1/ohttp/keys': {
    summary: "Oblivious HTTP: the gateway's live key configurations (RFC 9458 §3.2), announced key first",
    auth: 'none',
    responses: {
      200: { media: 'application/ohttp-keys', description: 'key configurations (docs/spec/ohttp.md)' },
    },
  },
  'POST /v1/ohttp': {
    summary: 'Oblivious HTTP gateway: one encapsulated private-lookup request (RFC 9458, R9, R26)',
    auth: 'none',
    body: {
      media: 'message/ohttp-req',
      description: 'an encapsulated Binary HTTP request to /v1/private/* (docs/spec/ohttp.md)',
    },
    responses: {
      200: { media: 'message/ohttp-res', description: 'the encapsulated Binary HTTP response' },
    },
  },
  'GET /v1/log/checkpoint': {
    summary: "The log's latest checkpoint, a signed note (C2SP)",
    auth: 'none',
    responses: { 200: text('signed note') },
  },
  'GET /v1/log/tiles/checkpoint': {
    summary: 'C2SP tlog-tiles: the latest checkpoint',
    auth: 'none',
    responses: { 200: text('signed note') },
  },
  'GET /v1/log/tiles/tile/*': {
    summary: 'C2SP tlog-tiles: a hash tile or entry bundle (<L>/<N>[.p/<W>] or entries/<N>[.p/<W>])',
    auth: 'none',
    responses: { 200: { media: 'application/octet-stream', description: 'the tile' } },
  },
  'POST /v1/witness/add-checkpoint': {
    summary: 'C2SP tlog-witness: cosign a checkpoint of another DP of the registry',
    auth: 'none',
    body: text('old size, consistency proof and checkpoint (C2SP tlog-witness)'),
    responses: {
      200: text('the cosignature line'),
      409: { media: 'text/x.tlog.size', description: 'the size this witness holds' },
    },
  },
  'GET /v1/log/checkpoints/:size': {
    summary: 'The checkpoint of a given size',
    auth: 'none',
    responses: { 200: text('signed note') },
  },
  'GET /v1/log/leaves': {
    summary: 'Log leaves in [start, end)',
    auth: 'none',
    query: { start: integer('first leaf'), end: integer('one past the last leaf') },
    responses: { 200: 'LeavesAnswer' },
  },
  'GET /v1/log/proof/inclusion': {
    summary: 'RFC 9162 inclusion proof, by leaf index or leaf hash',
    auth: 'none',
    query: {
      index: integer('leaf index', false),
      hash: { required: false, description: 'leaf hash, base64url' },
      size: integer('tree size (default: the latest)', false),
    },
    responses: { 200: 'InclusionAnswer' },
  },
  'GET /v1/log/proof/consistency': {
    summary: 'RFC 9162 consistency proof',
    auth: 'none',
    query: { from: integer('older size'), to: integer('newer size') },
    responses: { 200: 'ConsistencyAnswer' },
  },
  'GET /v1/log/witness': {
    summary: 'What this DP saw as a witness of its peers (R28)',
    auth: 'none',
    responses: { 200: 'WitnessReport' },
  },
  'POST /v1/federation/log/checkpoint': {
    summary: 'A peer witness asks for the latest checkpoint and a consistency proof',
    auth: 'peer',
    body: 'WitnessRequest',
    responses: { 200: 'WitnessAnswer' },
  },
  'POST /v1/federation/log/proof': {
    summary: 'A peer asks for the log proof of a mapping this DP logged',
    auth: 'peer',
    body: 'ProofRequest',
    responses: { 200: 'MappingProofAnswer' },
  },
  'POST /v1/federation/log/cosignature': {
    summary: "A peer witness's cosignature on one of this DP's checkpoints",
    auth: 'peer',
    body: 'CosignatureSubmission',
    responses: { 200: 'CosignatureAnswer' },
  },
  'GET /healthz': {
    summary: 'The process is alive',
    auth: 'none',
    responses: { 200: 'HealthAnswer' },
  },
  'GET /readyz': {
    summary: 'The node can serve (store reachable, not shutting down)',
    auth: 'none',
    responses: { 200: 'ReadyAnswer', 503: untyped('not ready') },
  },
};

/** `/v1/mappings/:id` -> `/v1/mappings/{id}`; the tile wildcard is one `{path}` of several segments. */
export function openApiPath(route: string): string {
  return route.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{path}');
}

const ref = (name: WireName) => ({ $ref: `#/components/schemas/${name}` });

function content(c: Content | { json: object; description: string }): {
  description: string;
  content: object;
} {
  if (typeof c === 'string') return { description: c, content: { 'application/json': { schema: ref(c) } } };
  if (Array.isArray(c)) {
    return {
      description: c.join(' or '),
      content: { 'application/json': { schema: { oneOf: c.map(ref) } } },
    };
  }
  if ('json' in c) return { description: c.description, content: { 'application/json': { schema: c.json } } };
  return { description: c.description, content: { [c.media]: { schema: c.schema ?? { type: 'string' } } } };
}

const security: Record<Auth, object[]> = {
  none: [],
  session: [{ session: [] }],
  'session-optional': [{}, { session: [] }],
  peer: [{ peerSignature: [] }],
  'session-or-token-optional': [{}, { session: [] }, { privateToken: [] }],
};

function operation(key: string, doc: RouteDoc): object {
  const [, path = ''] = key.split(' ');
  const params = [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  if (path.endsWith('*'))
    params.push({ name: 'path', in: 'path', required: true, schema: { type: 'string' } });
  for (const [name, q] of Object.entries(doc.query ?? {})) {
    params.push({ name, in: 'query', required: q.required, schema: { type: 'string' } });
  }
  const responses: Record<string, object> = {};
  for (const [status, c] of Object.entries(doc.responses)) {
    responses[status] = c === null ? { description: 'no body' } : content(c);
  }
  responses.default = {
    description: 'RFC 9457 problem details, with a stable code (docs/spec/errors.md)',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  };
  return {
    summary: doc.summary,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(doc.body === undefined ? {} : { requestBody: { required: true, ...content(doc.body) } }),
    responses,
    security: security[doc.auth],
    ...(doc.signedBody === undefined ? {} : { 'x-mimi-signed-body': doc.signedBody }),
  };
}

/** The OpenAPI 3.1 document of wire version 1, the same bytes on every node. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, object>> = {};
  for (const [key, doc] of Object.entries(RouteDocs)) {
    const [method = '', route = ''] = key.split(' ');
    const p = openApiPath(route);
    paths[p] = { ...paths[p], [method.toLowerCase()]: operation(key, doc) };
  }
  const schemas = Object.fromEntries(
    Object.entries(WireSchemas).map(([n, s]) => [n, JSON.parse(JSON.stringify(s)) as object]),
  );
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: JsonSchemaDialect,
    info: {
      title: 'mimi-discovery',
      version: '1',
      description:
        'MIMI user discovery: the HTTP API of a discovery provider (docs/spec/api.md). Schemas: docs/spec/schemas/.',
    },
    paths,
    components: {
      schemas,
      securitySchemes: {
        session: {
          type: 'http',
          scheme: 'bearer',
          description: 'A session token from POST /v1/session (R23)',
        },
        privateToken: {
          type: 'http',
          scheme: 'PrivateToken',
          description:
            "A Privacy Pass token (RFC 9577, type 0x0002 Blind RSA, RFC 9578) from the user's MSP issuer; one per " +
            'request. A 401 carries WWW-Authenticate: PrivateToken challenges (docs/spec/privacy-pass.md)',
        },
        peerSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'Signature',
          description:
            'A peer DP signs the request with its registry key: RFC 9421 HTTP Message Signatures (Signature, ' +
            'Signature-Input) over the method, target, Content-Digest (RFC 9530) and date (docs/spec/signatures.md)',
          'x-mimi-rfc9421': true,
        },
      },
    },
    'x-mimi-signed-body':
      "Holder, CSIP and participant bodies carry their signer's Ed25519 signature inside the record " +
      '(docs/spec/signatures.md); such routes need no session.',
  };
}

let served: string | undefined;
/** The document as served and committed (docs/spec/openapi.json): two-space JSON and a newline. */
export function openApiJson(): string {
  served ??= `${JSON.stringify(openApiDocument(), null, 2)}\n`;
  return served;
}
