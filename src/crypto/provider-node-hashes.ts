import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { CryptoProvider } from './provider.js';

/**
 * SHA-256, SHA-512, HMAC and randomness from node:crypto, which is part of Node (no native module
 * of ours): the SDK's in Node (src/crypto/provider-node.ts) and the server's
 * (src/crypto/provider-native.ts). Its own file so that the native provider loads no WebAssembly.
 */
export const nodeHashes: Pick<CryptoProvider, 'sha256' | 'sha512' | 'hmacSha256' | 'randomBytes'> = {
  sha256(...parts) {
    const h = createHash('sha256');
    for (const part of parts) h.update(part);
    return h.digest();
  },
  sha512(...parts) {
    const h = createHash('sha512');
    for (const part of parts) h.update(part);
    return h.digest();
  },
  hmacSha256(key, ...parts) {
    const h = createHmac('sha256', key);
    for (const part of parts) h.update(part);
    return h.digest();
  },
  randomBytes(length) {
    return randomBytes(length);
  },
};
