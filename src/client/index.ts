export { generateKeyPair, keyPairFromJwk, keyPairToJwk } from '../crypto/keys.js';
export {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../crypto/oprf-client-sodium.js';
export { type CryptoProvider, cryptoProvider, useCryptoProvider } from '../crypto/provider.js';
export { discoveryName, dns01Value, localPartLabel } from '../protocol/dns-names.js';
export { ErrorCode, MimiError } from '../protocol/errors.js';
export { parseCsi, parseSsi } from '../protocol/identifiers.js';
export { Registry } from '../registry/document.js';
export type { TrustPolicy } from '../registry/policy.js';
export { RegistrySource } from '../registry/source.js';
export { mappingId, verifyMapping } from '../registry/verify-mapping.js';
export { decodeLeaf, type LogLeaf, leafIsAbout } from '../tlog/leaf.js';
export {
  type DnsLookupOptions,
  DnssecState,
  type DnsVerifiedResult,
  lookupNativeDns,
} from './dns-lookup.js';
export { HolderClient, type HolderSigned, type MappingDraft } from './holder.js';
export { openDpCheckpoint, verifyMappingLogged } from './log-verify.js';
export {
  decodeCompactAnswer,
  pickMapping,
  type VerifiedMapping,
  type VerifiedResult,
  verifyVerboseAnswer,
} from './lookup-client.js';
export { MspAgent, type MspAgentOptions } from './msp-agent.js';
export {
  type FederatedPrivateResult,
  MemoryOprfCache,
  type OprfOutputCache,
  PrivateLookupClient,
  type PrivateLookupOptions,
  type PrivateLookupStats,
  privateLookupAcross,
} from './private-lookup.js';
export { type PrivateTokenOptions, PrivateTokens } from './private-tokens.js';
