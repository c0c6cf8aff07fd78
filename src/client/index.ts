export {
  type Ed25519Jwk,
  generateKeyPair,
  type KeyPair,
  keyPairFromJwk,
  keyPairToJwk,
  SigningKey,
} from '../crypto/keys.js';
export {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../crypto/oprf-client-sodium.js';
export type { BlindResult } from '../crypto/oprf-finalize.js';
export type { RandomSource } from '../crypto/oprf-suite.js';
export { type CryptoProvider, cryptoProvider, useCryptoProvider } from '../crypto/provider.js';
export type {
  AcceptAnswer,
  ChallengeStarted,
  CompactAnswer,
  InvalidationAnswer,
  LogReceipt,
  MappingAnswer,
  PseudonymAnswer,
  ReaffirmationAnswer,
  SharedVerboseAnswer,
  VerboseAnswer,
} from '../protocol/answers.js';
export { discoveryName, dns01Value, localPartLabel } from '../protocol/dns-names.js';
export {
  type AnyErrorCode,
  CliErrorCode,
  ClientErrorCode,
  ErrorCode,
  ForkCode,
  MimiError,
  PeerErrorCode,
  TlogErrorCode,
} from '../protocol/errors.js';
export {
  type Csi,
  CsiKind,
  type ParseCsiOptions,
  parseCsi,
  parseSsi,
  type Ssi,
} from '../protocol/identifiers.js';
export type { EpochsAnswer } from '../protocol/private.js';
export {
  type LookupRequest,
  LookupStatus,
  type Mapping,
  type MappingBody,
  type MappingSubmission,
  type PossessionAttestation,
  PossessionLevel,
} from '../protocol/records.js';
export type { MappingLogProof } from '../protocol/transparency.js';
export {
  type CsipEntry,
  type DpEntry,
  DpKeyUsage,
  type Issuer,
  type MspEntry,
  type RegisteredTokenKey,
  Registry,
  type RegistryDocument,
  type TokenKeyEntry,
  type VerifierEntry,
} from '../registry/document.js';
export type { TrustPolicy } from '../registry/policy.js';
export { type RegistryBytes, RegistrySource, type RegistrySourceOptions } from '../registry/source.js';
export {
  mappingId,
  type VerifyContext,
  type VerifyOptions,
  verifyMapping,
} from '../registry/verify-mapping.js';
export type { Checkpoint } from '../tlog/checkpoint.js';
export { decodeLeaf, type LogLeaf, leafIsAbout } from '../tlog/leaf.js';
export {
  type DnsLookupOptions,
  DnssecState,
  type DnsVerifiedResult,
  lookupNativeDns,
} from './dns-lookup.js';
export {
  HolderClient,
  type HolderClientOptions,
  type HolderSigned,
  type MappingDraft,
} from './holder.js';
export type { FetchLike, HttpOptions } from './http.js';
export { openDpCheckpoint, verifyMappingLogged } from './log-verify.js';
export {
  type CompactResult,
  decodeCompactAnswer,
  inlineProofs,
  LookupClient,
  type LookupClientOptions,
  type LookupOptions,
  type PeerReport,
  pickMapping,
  type VerifiedMapping,
  type VerifiedResult,
  type VerifyAnswerOptions,
  verifyVerboseAnswer,
} from './lookup-client.js';
export { type BatchItemResult, MspAgent, type MspAgentOptions } from './msp-agent.js';
export { MemoryOprfCache, type OprfOutputCache } from './oprf-cache.js';
export {
  PrivateLookupClient,
  type PrivateLookupOptions,
  type PrivateLookupStats,
} from './private-lookup.js';
export {
  type FederatedPrivateResult,
  type PrivateLookupAcrossOptions,
  privateLookupAcross,
} from './private-lookup-across.js';
export { type PrivateTokenOptions, PrivateTokens } from './private-tokens.js';
export type { RegistryInput } from './registry-input.js';
export type { Credential } from './session.js';
