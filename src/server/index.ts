// The server-side API (`mimi-discovery/server`): embed a DP node, or build tooling on the protocol
// core. The SDK is the package's root export and `@mimi-discovery/client` (src/client/index.ts).
export { canonicalize } from '../crypto/jcs.js';
export { nativeCrypto } from '../crypto/provider-native.js';
export { digest, SignPurpose, signObject, verifyObject } from '../crypto/sign.js';
export { lookupLocal, renderCompact, renderVerbose } from '../dp/lookup.js';
export { type AcceptResult, DiscoveryProvider, type DiscoveryProviderOptions } from '../dp/provider.js';
export * from '../protocol/records.js';
export { signRegistry } from '../registry/document.js';
export { PostgresStore, type PostgresStoreOptions } from '../store/postgres/postgres-store.js';
export { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from '../store/rate-limit.js';
export { SqliteStore } from '../store/sqlite/sqlite-store.js';
export type { Store, StoredMapping, StoreTx } from '../store/store.js';
export { signAttestation } from '../verifier/attestation.js';
export { DevOutboxChannel, HttpSmsChannel, type OtpChannel, SmtpChannel } from '../verifier/channels.js';
export { PossessionVerifier } from '../verifier/verifier.js';
export { buildApp, listen } from './app.js';
export { checkConfig, loadConfig, type NodeConfig } from './config.js';
export { type Context, createContext } from './context.js';
