import { createCipheriv, createDecipheriv } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { concatBytes } from '@noble/hashes/utils.js';
import type { CryptoProvider } from './provider.js';
import { checkGcmArgs, piecesOf } from './provider-args.js';

const gcmOf = (key: Uint8Array) => (key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');
/** A Buffer's bytes as a plain Uint8Array, uncopied: what every provider returns alike. */
const plain = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * AES-GCM from node:crypto and raw deflate from node:zlib, both part of Node (no native module of
 * ours): the SDK's in Node (src/crypto/provider-node.ts) and the server's
 * (src/crypto/provider-native.ts), whose private index seals an entry at every accept and whose
 * OHTTP gateway encrypts responses of MiBs. Its own file, as provider-node-hashes.ts, so that the
 * native provider loads no WebAssembly.
 */
export const nodeCiphers: Pick<CryptoProvider, 'aesGcmSeal' | 'aesGcmOpen' | 'deflateRaw' | 'inflateRaw'> = {
  aesGcmSeal(key, nonce, plaintext, aad) {
    checkGcmArgs(key, nonce);
    const c = createCipheriv(gcmOf(key), key, nonce);
    if (aad !== undefined) c.setAAD(aad);
    const out = piecesOf(plaintext).map((p) => plain(c.update(p)));
    // GCM's final() adds no bytes; the tag is the last piece.
    out.push(plain(c.final()), plain(c.getAuthTag()));
    return out;
  },
  aesGcmOpen(key, nonce, sealed, aad) {
    checkGcmArgs(key, nonce);
    if (sealed.length < 16) return undefined;
    const d = createDecipheriv(gcmOf(key), key, nonce);
    if (aad !== undefined) d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
      // final() checks the tag and adds no bytes: the plaintext is update's, returned uncopied
      // (an OHTTP response is MiBs), and only once the tag checked.
      const opened = d.update(sealed.subarray(0, sealed.length - 16));
      const rest = d.final();
      return rest.length === 0 ? plain(opened) : concatBytes(opened, rest);
    } catch {
      return undefined;
    }
  },
  deflateRaw(data, { level, dictionary }) {
    // A string goes to zlib as it is: Buffer's UTF-8 encoder is several times TextEncoder's.
    return plain(deflateRawSync(data, { level, ...(dictionary === undefined ? {} : { dictionary }) }));
  },
  inflateRaw(data, { maxOutputLength, dictionary }) {
    try {
      return plain(
        inflateRawSync(data, { maxOutputLength, ...(dictionary === undefined ? {} : { dictionary }) }),
      );
    } catch {
      return undefined;
    }
  },
};
