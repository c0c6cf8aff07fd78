/**
 * One error model for the whole project (STYLE.md conventions 4, 16): one base class, `MimiError`,
 * with a stable string `code` and an optional `cause`; every other error is a subclass of it.
 * Every code is in this file: the `wire` table holds the codes that go on the wire, each with its
 * HTTP status (`ErrorCode` names them, docs/spec/errors.md lists them); the sub-tables below hold
 * the codes a layer raises and handles itself, which never go on the wire as they are. Each boundary translates once: HTTP in
 * src/server/problems.ts, the CLI in src/cli/io.ts, the SDK in `fromProblem` below. Tests assert
 * the code, never the message. API misuse is a TypeError, not a MimiError (convention 5).
 */
/** The codes that go on the wire, each with its HTTP status: everything a caller did wrong is 4xx. */
const wire = {
  // request shape
  MalformedJson: ['malformed-json', 400],
  BodyTooLarge: ['body-too-large', 413],
  RecordInvalid: ['record-invalid', 400],
  UnknownVersion: ['unknown-version', 400],
  /** A version this DP still verifies where it was accepted before, but no longer accepts anew. */
  VersionRetired: ['version-retired', 400],
  BatchTooLarge: ['batch-too-large', 400],
  NotFound: ['not-found', 404],
  // the HTTP request itself: a URL that does not decode, a bad Content-Length, a malformed request line
  RequestInvalid: ['request-invalid', 400],
  UriTooLong: ['uri-too-long', 414],
  HeaderTooLarge: ['header-too-large', 431],
  RequestTimeout: ['request-timeout', 408],
  // identifiers (R8)
  InvalidPhone: ['invalid-phone', 400],
  InvalidEmail: ['invalid-email', 400],
  InvalidCsi: ['invalid-csi', 400],
  InvalidSsi: ['invalid-ssi', 400],
  InvalidNativeId: ['invalid-native-id', 400],
  CsiNotCanonical: ['csi-not-canonical', 400],
  // keys: an Ed25519 public key that is of small order or not canonical (nothing can be sealed to it)
  KeyInvalid: ['key-invalid', 422],
  // possession (R1, R5)
  VerifierNotTrusted: ['verifier-not-trusted', 422],
  VerifierNotIndependent: ['verifier-not-independent', 422],
  AttestationSignatureInvalid: ['attestation-signature-invalid', 422],
  AttestationExpired: ['attestation-expired', 422],
  AttestationMismatch: ['attestation-mismatch', 422],
  ChallengeNotFound: ['challenge-not-found', 404],
  ChallengeExpired: ['challenge-expired', 410],
  CodeInvalid: ['code-invalid', 422],
  TooManyAttempts: ['too-many-attempts', 429],
  ChannelUnavailable: ['channel-unavailable', 400],
  ChannelFailed: ['channel-failed', 502],
  // DNS (R29): native identifiers' possession (dns-01) and their records under _mimi-discovery
  DnsChallengeFailed: ['dns-challenge-failed', 422],
  DnsRecordInvalid: ['dns-record-invalid', 502],
  DnsBogus: ['dns-bogus', 502],
  DnsUnreachable: ['dns-unreachable', 503],
  // mapping signatures (R2-R6, R21)
  HolderSignatureMissing: ['holder-signature-missing', 422],
  HolderSignatureInvalid: ['holder-signature-invalid', 422],
  MspSignatureMissing: ['msp-signature-missing', 422],
  MspSignatureInvalid: ['msp-signature-invalid', 422],
  MspNotRegistered: ['msp-not-registered', 422],
  SsiMspMismatch: ['ssi-msp-mismatch', 422],
  DpNotRegistered: ['dp-not-registered', 422],
  DpSignatureInvalid: ['dp-signature-invalid', 422],
  MappingExpired: ['mapping-expired', 422],
  MappingTooLong: ['mapping-lifetime-too-long', 422],
  // DP rules (R7, R14, R17, R19, R25)
  DefaultTagTaken: ['default-tag-taken', 409],
  /** A holder-signed body older than the holder's newest live one for the CSI, or one withdrawn here. */
  RecordStale: ['record-stale', 409],
  MappingExists: ['mapping-exists', 409],
  SupersedesInvalid: ['supersedes-invalid', 409],
  MappingNotFound: ['mapping-not-found', 404],
  HolderKeyRetired: ['holder-key-retired', 409],
  HolderKeyUnknown: ['holder-key-unknown', 404],
  AttestationSuperseded: ['attestation-superseded', 409],
  CsipNotRegistered: ['csip-not-registered', 422],
  CsipSignatureInvalid: ['csip-signature-invalid', 422],
  RequestSignatureInvalid: ['request-signature-invalid', 422],
  RequestStale: ['request-stale', 422],
  Replayed: ['replayed', 409],
  // registry (R30)
  RegistrySignatureInvalid: ['registry-signature-invalid', 422],
  RegistryExpired: ['registry-expired', 422],
  RegistryRollback: ['registry-rollback', 422],
  RegistryUnavailable: ['registry-unavailable', 503],
  // callers (R22, R23)
  Unauthenticated: ['unauthenticated', 401],
  Forbidden: ['forbidden', 403],
  RateLimited: ['rate-limited', 429],
  Unreachable: ['unreachable', 503],
  InsecureTransport: ['insecure-transport', 400],
  // private lookup (R9, R22, R26, R28): RFC 9497 OPRF errors keep their OprfError codes
  OprfInvalidElement: ['oprf-invalid-element', 400],
  OprfIdentityElement: ['oprf-identity-element', 400],
  OprfInvalidInput: ['oprf-invalid-input', 400],
  OprfInvalidScalar: ['oprf-invalid-scalar', 400],
  OprfBatchTooLarge: ['oprf-batch-too-large', 400],
  /** RFC 9497 §3.3.2: an evaluation's proof is malformed or does not verify against the epoch key. */
  OprfProofInvalid: ['oprf-proof-invalid', 422],
  /** The epoch key an evaluation is under is not the one committed in the DP's log for that epoch. */
  OprfKeyUnlogged: ['oprf-key-unlogged', 422],
  EpochUnknown: ['epoch-unknown', 404],
  // Oblivious HTTP (RFC 9458, RFC 9292): the gateway, the relay and the client's transport
  /** An encapsulated request or response, or a Binary HTTP message inside one, that does not parse. */
  OhttpMalformed: ['ohttp-malformed', 400],
  /** RFC 9458 §5.3: the key id or the HPKE suite is not one of the gateway's live key configurations. */
  OhttpKeyUnknown: ['ohttp-key-unknown', 400],
  /** HPKE or AEAD open failed: tampered, truncated or sealed to another key or context. */
  OhttpDecryptFailed: ['ohttp-decrypt-failed', 400],
  /** The same encapsulated request (its HPKE enc) seen again within the replay window. */
  OhttpReplayed: ['ohttp-replayed', 409],
  /** The inner request's Date is outside the gateway's replay window (RFC 9458 §6.5). */
  OhttpDateInvalid: ['ohttp-date-invalid', 400],
  /** The inner request names an endpoint the gateway does not forward to. */
  OhttpTargetForbidden: ['ohttp-target-forbidden', 404],
  /** A relay asked to forward to a target that no registry DP lists as its gateway. */
  RelayTargetUnknown: ['relay-target-unknown', 404],
  // Privacy Pass (RFC 9577, RFC 9578): redemption at the DP, issuance at the MSP's issuer
  TokenMalformed: ['token-malformed', 401],
  /** The token's key is not a current issuer key of any MSP in the registry (unknown, expired, rotated out). */
  TokenKeyUnknown: ['token-key-unknown', 401],
  /** The token was made for another challenge: another DP (origin), issuer or token type. */
  TokenChallengeMismatch: ['token-challenge-mismatch', 401],
  TokenInvalid: ['token-invalid', 401],
  TokenSpent: ['token-spent', 401],
  TokenRequestMalformed: ['token-request-malformed', 400],
  TokenIssuanceLimit: ['token-issuance-limit', 429],
  // transparency log (R3, R28)
  LogProofMissing: ['log-proof-missing', 422],
  LogProofInvalid: ['log-proof-invalid', 422],
  LogCheckpointInvalid: ['log-checkpoint-invalid', 422],
  LogCosignaturesMissing: ['log-cosignatures-missing', 422],
  LogReceiptInvalid: ['log-receipt-invalid', 422],
  // storage (retryable: the request may be repeated as it is once the store answers again)
  StoreUnavailable: ['store-unavailable', 503],
  // operations: the node is draining after SIGTERM; send new requests to another node
  ShuttingDown: ['shutting-down', 503],
  // configuration and everything else
  ConfigInvalid: ['config-invalid', 500],
  /** An environment variable the config names (a password, a token) is not set. */
  ConfigEnvMissing: ['config-env-missing', 500],
  Internal: ['internal', 500],
} as const satisfies Record<string, readonly [string, number]>;

/**
 * The wire codes by name (the table above without the statuses).
 *
 * @example
 * if (err instanceof MimiError && err.code === ErrorCode.RateLimited) await later();
 */
export const ErrorCode = Object.freeze(
  Object.fromEntries(Object.entries(wire).map(([name, [code]]) => [name, code])),
) as { readonly [K in keyof typeof wire]: (typeof wire)[K][0] };
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const statusOf: ReadonlyMap<string, number> = new Map(Object.values(wire));

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
 *
 * @example
 * if (err.cause instanceof MimiError && err.cause.code === TlogErrorCode.ProofInvalid) report(err);
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
 *
 * @example
 * const forks = report.forks.filter((f) => f.reason === ForkCode.RootMismatch);
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
 *
 * @example
 * const code: PeerErrorCode = PeerErrorCode.Timeout;
 */
export const PeerErrorCode = {
  /** No (complete) answer within the call's time limit. */
  Timeout: 'timeout',
} as const;
export type PeerErrorCode = (typeof PeerErrorCode)[keyof typeof PeerErrorCode];

/**
 * The SDK's own, handled inside it (PoolUnavailable in src/client/private-verify.ts).
 *
 * @example
 * const code: ClientErrorCode = ClientErrorCode.VerifyPoolUnavailable;
 */
export const ClientErrorCode = {
  /** The verify worker pool failed (not the entries): verify on the calling thread instead. */
  VerifyPoolUnavailable: 'verify-pool-unavailable',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/**
 * The command line (CliError in src/cli/io.ts). `mimi-discovery --json` prints them in a problem
 * document without a status; `usage` exits 2, every other code 1.
 *
 * @example
 * if (err instanceof MimiError && err.code === CliErrorCode.Usage) process.exitCode = 2;
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

/**
 * Every code: the wire's and every layer's own.
 *
 * @example
 * const code: AnyErrorCode = err.code;
 */
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
  return typeof code === 'string' && statusOf.has(code);
}

/**
 * The one error base class (STYLE.md §16): a stable `code` from ErrorCode, an optional `cause`.
 *
 * @example
 * try {
 *   await agent.lookup(csis);
 * } catch (err) {
 *   if (err instanceof MimiError) console.log(err.code);
 * }
 */
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
    this.status = statusOf.get(code) ?? 500;
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

/**
 * A refusal's body as bytes (an answer that is not JSON on success: buckets, tokens, Oblivious
 * HTTP): its problem document as a MimiError, or undefined when the body is not JSON, for the
 * caller to say what that means where it is.
 */
export function fromProblemBody(body: Uint8Array, status: number): MimiError | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { ignoreBOM: true }).decode(body));
  } catch {
    return undefined;
  }
  return fromProblem(parsed, status);
}
