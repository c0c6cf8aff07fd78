import type { CryptoProvider } from './provider.js';
import { nodeCiphers } from './provider-node-ciphers.js';
import { nodeHashes } from './provider-node-hashes.js';
import { wasmCrypto } from './provider-wasm.js';

/**
 * The SDK's implementation when it runs in Node (src/crypto/provider.ts): SHA-256, SHA-512, HMAC
 * and randomness from node:crypto (src/crypto/provider-node-hashes.ts), about ten times faster
 * than @noble/hashes on the kilobyte-sized canonical records a contact sync hashes several times
 * per mapping and on the OPRF's SHA-512 (RFC 9497); AES-GCM and raw deflate from node:crypto and
 * node:zlib (src/crypto/provider-node-ciphers.ts), as the server has them. Ed25519 and sealed
 * boxes stay libsodium's WebAssembly build: node:crypto's Ed25519 verifies fewer signatures per
 * second (bench/private-lookup.ts `baseline_ed25519_verify` and `_node`), and libsodium is what
 * the server's native binding runs, so both accept exactly the same signatures.
 */
export const nodeCrypto: CryptoProvider = { ...wasmCrypto, ...nodeHashes, ...nodeCiphers, name: 'node' };
