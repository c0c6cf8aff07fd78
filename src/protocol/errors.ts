/**
 * One error model for the whole project (STYLE.md conventions 4, 16): one base class, `MimiError`,
 * with a stable string `code` and an optional `cause`; every other error is a subclass of it.
 * Every code is in this file: `ErrorCode` holds the codes that go on the wire, each with its HTTP
 * status (docs/spec/errors.md lists them); the sub-tables below hold the codes a layer raises and
 * handles itself, which never go on the wire as they are. Each boundary translates once: HTTP in
 * src/server/problems.ts, the CLI in src/cli/io.ts, the SDK in `fromProblem` below. Tests assert
 * the code, never the message. API misuse is a TypeError, not a MimiError (convention 5).
 */
export const ErrorCode = {
  // request shape
  MalformedJson: 'malformed-json',
  BodyTooLarge: 'body-too-large',
  RecordInvalid: 'record-invalid',
  UnknownVersion: 'unknown-version',
  /** A version this DP still verifies where it was accepted before, but no longer accepts anew. */
  VersionRetired: 'version-retired',
  BatchTooLarge: 'batch-too-large',
  NotFound: 'not-found',
  // the HTTP request itself: a URL that does not decode, a bad Content-Length, a malformed request line
  RequestInvalid: 'request-invalid',
  UriTooLong: 'uri-too-long',
  HeaderTooLarge: 'header-too-large',
  RequestTimeout: 'request-timeout',
  // identifiers (R8)
  InvalidPhone: 'invalid-phone',
  InvalidEmail: 'invalid-email',
  InvalidCsi: 'invalid-csi',
  InvalidSsi: 'invalid-ssi',
  InvalidNativeId: 'invalid-native-id',
  CsiNotCanonical: 'csi-not-canonical',
  // keys: an Ed25519 public key that is of small order or not canonical (nothing can be sealed to it)
  KeyInvalid: 'key-invalid',
  // possession (R1, R5)
  VerifierNotTrusted: 'verifier-not-trusted',
  VerifierNotIndependent: 'verifier-not-independent',
  AttestationSignatureInvalid: 'attestation-signature-invalid',
  AttestationExpired: 'attestation-expired',
  AttestationMismatch: 'attestation-mismatch',
  ChallengeNotFound: 'challenge-not-found',
  ChallengeExpired: 'challenge-expired',
  CodeInvalid: 'code-invalid',
  TooManyAttempts: 'too-many-attempts',
  ChannelUnavailable: 'channel-unavailable',
  ChannelFailed: 'channel-failed',
  // DNS (R29): native identifiers' possession (dns-01) and their records under _mimi-discovery
  DnsChallengeFailed: 'dns-challenge-failed',
  DnsRecordInvalid: 'dns-record-invalid',
  DnsBogus: 'dns-bogus',
  DnsUnreachable: 'dns-unreachable',
  // mapping signatures (R2-R6, R21)
  HolderSignatureMissing: 'holder-signature-missing',
  HolderSignatureInvalid: 'holder-signature-invalid',
  MspSignatureMissing: 'msp-signature-missing',
  MspSignatureInvalid: 'msp-signature-invalid',
  MspNotRegistered: 'msp-not-registered',
  SsiMspMismatch: 'ssi-msp-mismatch',
  DpNotRegistered: 'dp-not-registered',
  DpSignatureInvalid: 'dp-signature-invalid',
  MappingExpired: 'mapping-expired',
  MappingTooLong: 'mapping-lifetime-too-long',
  // DP rules (R7, R14, R17, R19, R25)
  DefaultTagTaken: 'default-tag-taken',
  /** A holder-signed body older than the holder's newest live one for the CSI, or one withdrawn here. */
  RecordStale: 'record-stale',
  MappingExists: 'mapping-exists',
  SupersedesInvalid: 'supersedes-invalid',
  MappingNotFound: 'mapping-not-found',
  HolderKeyRetired: 'holder-key-retired',
  HolderKeyUnknown: 'holder-key-unknown',
  AttestationSuperseded: 'attestation-superseded',
  CsipNotRegistered: 'csip-not-registered',
  CsipSignatureInvalid: 'csip-signature-invalid',
  RequestSignatureInvalid: 'request-signature-invalid',
  RequestStale: 'request-stale',
  Replayed: 'replayed',
  // registry (R30)
  RegistrySignatureInvalid: 'registry-signature-invalid',
  RegistryExpired: 'registry-expired',
  RegistryRollback: 'registry-rollback',
  RegistryUnavailable: 'registry-unavailable',
  // callers (R22, R23)
  Unauthenticated: 'unauthenticated',
  Forbidden: 'forbidden',
  RateLimited: 'rate-limited',
  Unreachable: 'unreachable',
  InsecureTransport: 'insecure-transport',
  // private lookup (R9, R22, R26, R28): RFC 9497 OPRF errors keep their OprfError codes
  OprfInvalidElement: 'oprf-invalid-element',
  OprfIdentityElement: 'oprf-identity-element',
  OprfInvalidInput: 'oprf-invalid-input',
  OprfInvalidScalar: 'oprf-invalid-scalar',
  OprfBatchTooLarge: 'oprf-batch-too-large',
  /** RFC 9497 §3.3.2: an evaluation's proof is malformed or does not verify against the epoch key. */
  OprfProofInvalid: 'oprf-proof-invalid',
  /** The epoch key an evaluation is under is not the one committed in the DP's log for that epoch. */
  OprfKeyUnlogged: 'oprf-key-unlogged',
  EpochUnknown: 'epoch-unknown',
  // Oblivious HTTP (RFC 9458, RFC 9292): the gateway, the relay and the client's transport
  /** An encapsulated request or response, or a Binary HTTP message inside one, that does not parse. */
  OhttpMalformed: 'ohttp-malformed',
  /** RFC 9458 §5.3: the key id or the HPKE suite is not one of the gateway's live key configurations. */
  OhttpKeyUnknown: 'ohttp-key-unknown',
  /** HPKE or AEAD open failed: tampered, truncated or sealed to another key or context. */
  OhttpDecryptFailed: 'ohttp-decrypt-failed',
  /** The same encapsulated request (its HPKE enc) seen again within the replay window. */
  OhttpReplayed: 'ohttp-replayed',
  /** The inner request's Date is outside the gateway's replay window (RFC 9458 §6.5). */
  OhttpDateInvalid: 'ohttp-date-invalid',
  /** The inner request names an endpoint the gateway does not forward to. */
  OhttpTargetForbidden: 'ohttp-target-forbidden',
  /** A relay asked to forward to a target that no registry DP lists as its gateway. */
  RelayTargetUnknown: 'relay-target-unknown',
  // Privacy Pass (RFC 9577, RFC 9578): redemption at the DP, issuance at the MSP's issuer
  TokenMalformed: 'token-malformed',
  /** The token's key is not a current issuer key of any MSP in the registry (unknown, expired, rotated out). */
  TokenKeyUnknown: 'token-key-unknown',
  /** The token was made for another challenge: another DP (origin), issuer or token type. */
  TokenChallengeMismatch: 'token-challenge-mismatch',
  TokenInvalid: 'token-invalid',
  TokenSpent: 'token-spent',
  TokenRequestMalformed: 'token-request-malformed',
  TokenIssuanceLimit: 'token-issuance-limit',
  // transparency log (R3, R28)
  LogProofMissing: 'log-proof-missing',
  LogProofInvalid: 'log-proof-invalid',
  LogCheckpointInvalid: 'log-checkpoint-invalid',
  LogCosignaturesMissing: 'log-cosignatures-missing',
  LogReceiptInvalid: 'log-receipt-invalid',
  // storage (retryable: the request may be repeated as it is once the store answers again)
  StoreUnavailable: 'store-unavailable',
  // operations: the node is draining after SIGTERM; send new requests to another node
  ShuttingDown: 'shutting-down',
  // configuration and everything else
  ConfigInvalid: 'config-invalid',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** HTTP status for each code; everything a caller did wrong is 4xx. */
const statusOf: Record<ErrorCode, number> = {
  'malformed-json': 400,
  'body-too-large': 413,
  'record-invalid': 400,
  'unknown-version': 400,
  'version-retired': 400,
  'batch-too-large': 400,
  'not-found': 404,
  'request-invalid': 400,
  'uri-too-long': 414,
  'header-too-large': 431,
  'request-timeout': 408,
  'invalid-phone': 400,
  'invalid-email': 400,
  'invalid-csi': 400,
  'invalid-ssi': 400,
  'invalid-native-id': 400,
  'csi-not-canonical': 400,
  'key-invalid': 422,
  'verifier-not-trusted': 422,
  'verifier-not-independent': 422,
  'attestation-signature-invalid': 422,
  'attestation-expired': 422,
  'attestation-mismatch': 422,
  'challenge-not-found': 404,
  'challenge-expired': 410,
  'code-invalid': 422,
  'too-many-attempts': 429,
  'channel-unavailable': 400,
  'channel-failed': 502,
  'dns-challenge-failed': 422,
  'dns-record-invalid': 502,
  'dns-bogus': 502,
  'dns-unreachable': 503,
  'holder-signature-missing': 422,
  'holder-signature-invalid': 422,
  'msp-signature-missing': 422,
  'msp-signature-invalid': 422,
  'msp-not-registered': 422,
  'ssi-msp-mismatch': 422,
  'dp-not-registered': 422,
  'dp-signature-invalid': 422,
  'mapping-expired': 422,
  'mapping-lifetime-too-long': 422,
  'default-tag-taken': 409,
  'record-stale': 409,
  'mapping-exists': 409,
  'supersedes-invalid': 409,
  'mapping-not-found': 404,
  'holder-key-retired': 409,
  'holder-key-unknown': 404,
  'attestation-superseded': 409,
  'csip-not-registered': 422,
  'csip-signature-invalid': 422,
  'request-signature-invalid': 422,
  'request-stale': 422,
  replayed: 409,
  'registry-signature-invalid': 422,
  'registry-expired': 422,
  'registry-rollback': 422,
  'registry-unavailable': 503,
  unauthenticated: 401,
  forbidden: 403,
  'rate-limited': 429,
  unreachable: 503,
  'insecure-transport': 400,
  'oprf-invalid-element': 400,
  'oprf-identity-element': 400,
  'oprf-invalid-input': 400,
  'oprf-invalid-scalar': 400,
  'oprf-batch-too-large': 400,
  'oprf-proof-invalid': 422,
  'oprf-key-unlogged': 422,
  'epoch-unknown': 404,
  'ohttp-malformed': 400,
  'ohttp-key-unknown': 400,
  'ohttp-decrypt-failed': 400,
  'ohttp-replayed': 409,
  'ohttp-date-invalid': 400,
  'ohttp-target-forbidden': 404,
  'relay-target-unknown': 404,
  'token-malformed': 401,
  'token-key-unknown': 401,
  'token-challenge-mismatch': 401,
  'token-invalid': 401,
  'token-spent': 401,
  'token-request-malformed': 400,
  'token-issuance-limit': 429,
  'log-proof-missing': 422,
  'log-proof-invalid': 422,
  'log-checkpoint-invalid': 422,
  'log-cosignatures-missing': 422,
  'log-receipt-invalid': 422,
  'store-unavailable': 503,
  'shutting-down': 503,
  'config-invalid': 500,
  internal: 500,
};

/**
 * RFC 9497 OPRF errors (OprfError in src/crypto/oprf-errors.ts): a sub-table of the wire codes, so an
 * OPRF failure on a peer's element goes on the wire with its own code.
 */
export const OprfErrorCode = {
  /** Not a valid ristretto255 encoding (wrong length, non-canonical, off-curve); RFC 9497 §2.1 DeserializeElement. */
  InvalidElement: ErrorCode.OprfInvalidElement,
  /** The identity element was received; RFC 9497 §2.1 DeserializeElement and §3.3.1. */
  IdentityElement: ErrorCode.OprfIdentityElement,
  /** The PRF input is unusable: too long for I2OSP(len, 2), or it hashes to the identity (RFC 9497 §3.3.1 InvalidInputError). */
  InvalidInput: ErrorCode.OprfInvalidInput,
  /** A scalar is zero or not canonical (>= group order); RFC 9497 §2.1 DeserializeScalar, §3.2.1 DeriveKeyPairError. */
  InvalidScalar: ErrorCode.OprfInvalidScalar,
  /** More elements in one batch than the configured limit. */
  BatchTooLarge: ErrorCode.OprfBatchTooLarge,
  /** An evaluation's DLEQ proof is malformed or does not verify against the key (RFC 9497 §2.2.2, §3.3.2). */
  ProofInvalid: ErrorCode.OprfProofInvalid,
} as const;
export type OprfErrorCode = (typeof OprfErrorCode)[keyof typeof OprfErrorCode];

/**
 * The transparency-log core (TlogError in src/tlog/errors.ts), on untrusted log input. Never on the
 * wire as such: the caller names the check that failed (`log-proof-invalid`, `log-checkpoint-invalid`,
 * `record-invalid` for a peer's cosignature) and keeps the TlogError as its `cause`.
 */
export const TlogErrorCode = {
  /** An inclusion or consistency proof (or its inputs) did not verify. */
  ProofInvalid: 'tlog-proof-invalid',
  /** A proof or subtree was requested for indices or sizes outside the tree. */
  BadRange: 'tlog-bad-range',
  /** Persisted accumulator state is structurally inconsistent. */
  StateInvalid: 'tlog-state-invalid',
  /** Checkpoint text violates C2SP tlog-checkpoint. */
  CheckpointMalformed: 'tlog-checkpoint-malformed',
  /** A checkpoint is well formed but for a different log origin. */
  OriginMismatch: 'tlog-origin-mismatch',
  /** Signed-note text violates C2SP signed-note. */
  NoteMalformed: 'tlog-note-malformed',
  /** A note carries no signature from any known key. */
  NoteUnverified: 'tlog-note-unverified',
  /** A signature from a known key failed to verify. */
  SignatureInvalid: 'tlog-signature-invalid',
  /** A verifier or signer key string could not be parsed. */
  KeyMalformed: 'tlog-key-malformed',
} as const;
export type TlogErrorCode = (typeof TlogErrorCode)[keyof typeof TlogErrorCode];

/**
 * R11: why a witness refuses a peer's checkpoint as a fork (federation/witness.ts). Reported in the
 * witness's view (`GET /v1/log/witness`) beside the two checkpoints.
 */
export const ForkCode = {
  /** Another root at a size already seen. */
  RootMismatch: 'fork-root-mismatch',
  /** A smaller tree than the one already seen. */
  Shrunk: 'fork-shrunk',
  /** A bigger tree, but no consistency proof from the last one seen. */
  ProofMissing: 'fork-proof-missing',
  /** A bigger tree whose consistency proof from the last one seen is malformed or does not verify. */
  Inconsistent: 'fork-inconsistent',
} as const;
export type ForkCode = (typeof ForkCode)[keyof typeof ForkCode];

/**
 * A DP-to-DP call (PeerCallError in src/federation/peer-client.ts): the peer's own wire code, or one
 * of the wire codes for an answer that never came or could not be read, or this one.
 */
export const PeerErrorCode = {
  /** No (complete) answer within the call's time limit. */
  Timeout: 'timeout',
} as const;
export type PeerErrorCode = (typeof PeerErrorCode)[keyof typeof PeerErrorCode];

/** The SDK's own, handled inside it (PoolUnavailable in src/client/private-verify.ts). */
export const ClientErrorCode = {
  /** The verify worker pool failed (not the entries): verify on the calling thread instead. */
  VerifyPoolUnavailable: 'verify-pool-unavailable',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/**
 * The command line (CliError in src/cli/io.ts). `mimi-discovery --json` prints them in a problem
 * document without a status; `usage` exits 2, every other code 1.
 */
export const CliErrorCode = {
  /** Bad command line: unknown command or option, missing or conflicting option. */
  Usage: 'usage',
  InvalidArgument: 'invalid-argument',
  FileNotFound: 'file-not-found',
  FileExists: 'file-exists',
  NotADevnet: 'not-a-devnet',
  AddressInUse: 'address-in-use',
  /** A devnet DP process did not start or died. */
  NodeFailed: 'node-failed',
  DemoStepFailed: 'demo-step-failed',
  /** A conformance check failed (its report names the check). */
  CheckFailed: 'check-failed',
  /** A conformance check that does not apply to this DP. */
  CheckSkipped: 'check-skipped',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** Every code: the wire's and every layer's own. */
export type AnyErrorCode =
  | ErrorCode
  | TlogErrorCode
  | ForkCode
  | PeerErrorCode
  | ClientErrorCode
  | CliErrorCode;

/** The local sub-tables; each of their codes is distinct from every wire code (test/protocol/errors.test.ts). */
export const localErrorCodes: Readonly<Record<string, Readonly<Record<string, AnyErrorCode>>>> = {
  TlogErrorCode,
  ForkCode,
  PeerErrorCode,
  ClientErrorCode,
  CliErrorCode,
};

/** Whether `code` is one that goes on the wire (has an HTTP status). */
export function isWireCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(statusOf, code);
}

export class MimiError extends Error {
  readonly code: AnyErrorCode;
  /** HTTP status of a wire code; 500 for a local code, which reaching HTTP is a fault of ours. */
  readonly status: number;
  /** Extra machine-readable members for the problem document (never secrets). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: AnyErrorCode, message: string, extra?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = isWireCode(code) ? statusOf[code] : 500;
    this.extra = extra;
  }
}

/** RFC 9457 problem details, carrying our stable code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

export const problemTypeBase = 'urn:mimi-discovery:problem:';

/** The problem document of any MimiError; `status` only for a wire code. */
export function problemDocument(err: MimiError): Record<string, unknown> & { code: AnyErrorCode } {
  return {
    ...err.extra,
    type: `${problemTypeBase}${err.code}`,
    title: err.code,
    ...(isWireCode(err.code) ? { status: err.status } : {}),
    detail: err.message,
    code: err.code,
  };
}

/** The wire's problem document: a local code never goes out, it is a fault of ours (internal). */
export function toProblem(err: MimiError): Problem {
  const wire = isWireCode(err.code) ? err : new MimiError(ErrorCode.Internal, 'internal error');
  return problemDocument(wire) as Problem;
}

/** The wire code of any thrown value: a MimiError's own if it goes on the wire, else `internal`. */
export function wireCodeOf(err: unknown): ErrorCode {
  return err instanceof MimiError && isWireCode(err.code) ? err.code : ErrorCode.Internal;
}

export function isMimiError(value: unknown, code?: AnyErrorCode): value is MimiError {
  return value instanceof MimiError && (code === undefined || value.code === code);
}

/**
 * The SDK's one translation: a problem document a peer or server sent us, as a MimiError with its
 * code. RFC 9457 §3: an unknown code is treated as `internal` (docs/spec/errors.md §9.1).
 */
export function fromProblem(body: unknown, status: number): MimiError {
  const p = body as Partial<Problem> | null;
  const code = isWireCode(p?.code) ? p.code : ErrorCode.Internal;
  const detail = typeof p?.detail === 'string' ? p.detail : `HTTP ${status}`;
  const { type: _t, title: _ti, status: _s, detail: _d, code: _c, ...extra } = (p ?? {}) as Problem;
  return new MimiError(code, detail, Object.keys(extra).length > 0 ? extra : undefined);
}
