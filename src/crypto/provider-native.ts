import sodium from 'sodium-native';
import type { CryptoProvider } from './provider.js';
import { nodeCiphers } from './provider-node-ciphers.js';
import { nodeHashes } from './provider-node-hashes.js';

/**
 * The server's implementation (src/crypto/provider.ts): libsodium's native binding and
 * node:crypto. It verifies about three times as many signatures per second as the WebAssembly
 * build and needs no KeyObject per key (every mapping brings a new holder key); a cold private
 * contact sync checks four signatures per mapping (bench/private-lookup.ts). Not part of the SDK
 * package: a native module is what an app developer should not have to build.
 */
export const nativeCrypto: CryptoProvider = {
  name: 'native',
  verifyEd25519(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  },
  ed25519KeyPair(seed) {
    const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
    const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
    sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
    return { publicKey, secretKey };
  },
  signEd25519(secretKey, message) {
    const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
    sodium.crypto_sign_detached(signature, message, secretKey);
    return signature;
  },
  // node:crypto's and node:zlib's, as the SDK has them in Node.
  ...nodeHashes,
  ...nodeCiphers,
  sealToEd25519(edPublicKey, message) {
    const xPk = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
    const sealed = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
    try {
      sodium.crypto_sign_ed25519_pk_to_curve25519(xPk, edPublicKey);
      sodium.crypto_box_seal(sealed, message, xPk);
    } catch {
      throw new TypeError('no X25519 form: small order or not canonical');
    }
    return sealed;
  },
  openWithEd25519(seed, edPublicKey, sealed) {
    if (sealed.length < sodium.crypto_box_SEALBYTES) return undefined;
    const xSk = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
    const edSk = Buffer.alloc(64);
    try {
      const xPk = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
      sodium.crypto_sign_ed25519_pk_to_curve25519(xPk, edPublicKey);
      edSk.set(seed);
      edSk.set(edPublicKey, 32);
      sodium.crypto_sign_ed25519_sk_to_curve25519(xSk, edSk);
      const m = Buffer.alloc(sealed.length - sodium.crypto_box_SEALBYTES);
      return sodium.crypto_box_seal_open(m, sealed, xPk, xSk) ? m : undefined;
    } catch {
      return undefined;
    } finally {
      xSk.fill(0);
      edSk.fill(0);
    }
  },
};
