import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { deflateSync, Inflate } from 'fflate';
import sodium from 'libsodium-wrappers-sumo';
import type { CryptoProvider } from './provider.js';
import { checkGcmArgs, piecesOf } from './provider-args.js';

/**
 * The portable implementation (src/crypto/provider.ts): libsodium compiled to WebAssembly, so that
 * signatures and sealed boxes are checked by the same code as the native binding's, SHA-256 and
 * HMAC from @noble/hashes, randomness from WebCrypto (Node 20 and every browser). No native module.
 */

// libsodium's WebAssembly module loads asynchronously; every call here is synchronous, so the
// module waits for it once when it is first imported.
await sodium.ready;

const utf8 = new TextEncoder();
/** Input bytes fed to fflate's inflate stream at a time. */
const inflateSlice = 1024;
const bytesOf = (part: Uint8Array | string) => (typeof part === 'string' ? utf8.encode(part) : part);

export const wasmCrypto: CryptoProvider = {
  name: 'wasm',
  verifyEd25519(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    try {
      return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    } catch {
      return false;
    }
  },
  ed25519KeyPair(seed) {
    const { publicKey, privateKey } = sodium.crypto_sign_seed_keypair(seed);
    return { publicKey, secretKey: privateKey };
  },
  signEd25519(secretKey, message) {
    return sodium.crypto_sign_detached(message, secretKey);
  },
  sha256(...parts) {
    const h = sha256.create();
    for (const part of parts) h.update(bytesOf(part));
    return h.digest();
  },
  sha512(...parts) {
    const h = sha512.create();
    for (const part of parts) h.update(bytesOf(part));
    return h.digest();
  },
  hmacSha256(key, ...parts) {
    const h = hmac.create(sha256, key);
    for (const part of parts) h.update(bytesOf(part));
    return h.digest();
  },
  randomBytes(length) {
    const out = new Uint8Array(length);
    // getRandomValues fills at most 65536 bytes per call.
    for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
    return out;
  },
  sealToEd25519(edPublicKey, message) {
    let xPk: Uint8Array;
    try {
      xPk = sodium.crypto_sign_ed25519_pk_to_curve25519(edPublicKey);
      return sodium.crypto_box_seal(message, xPk);
    } catch {
      throw new TypeError('no X25519 form: small order or not canonical');
    }
  },
  aesGcmSeal(key, nonce, plaintext, aad) {
    checkGcmArgs(key, nonce);
    const pieces = piecesOf(plaintext);
    const sealed = gcm(key, nonce, aad).encrypt(pieces.length === 1 ? pieces[0]! : concatBytes(...pieces));
    return [sealed.subarray(0, sealed.length - 16), sealed.subarray(sealed.length - 16)];
  },
  aesGcmOpen(key, nonce, sealed, aad) {
    checkGcmArgs(key, nonce);
    if (sealed.length < 16) return undefined;
    try {
      return gcm(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  deflateRaw(data, { level, dictionary }) {
    return deflateSync(bytesOf(data), { level, ...(dictionary === undefined ? {} : { dictionary }) });
  },
  inflateRaw(data, { maxOutputLength, dictionary }) {
    if (data.length === 0) return undefined;
    // fflate's one-shot inflate has no output bound: its stream is fed a slice at a time, so a
    // deflate bomb stops within about 1 MiB (at most 1032 times its input) of the bound.
    const chunks: Uint8Array[] = [];
    let total = 0;
    const inflater = new Inflate(dictionary === undefined ? {} : { dictionary }, (chunk) => {
      total += chunk.length;
      if (total > maxOutputLength) throw new RangeError('inflates past the bound');
      chunks.push(chunk);
    });
    try {
      for (let i = 0; i < data.length; i += inflateSlice) {
        inflater.push(data.subarray(i, i + inflateSlice), i + inflateSlice >= data.length);
      }
    } catch {
      return undefined;
    }
    return chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
  },
  openWithEd25519(seed, edPublicKey, sealed) {
    let xSk: Uint8Array | undefined;
    try {
      const xPk = sodium.crypto_sign_ed25519_pk_to_curve25519(edPublicKey);
      const edSk = new Uint8Array(64);
      edSk.set(seed);
      edSk.set(edPublicKey, 32);
      xSk = sodium.crypto_sign_ed25519_sk_to_curve25519(edSk);
      edSk.fill(0);
      return sodium.crypto_box_seal_open(sealed, xPk, xSk);
    } catch {
      return undefined;
    } finally {
      xSk?.fill(0);
    }
  },
};
