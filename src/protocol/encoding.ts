import { MimiError } from './errors.js';

/*
 * Bytes to and from text through what Node and every browser share (btoa, atob, TextEncoder),
 * never Buffer: the SDK's code runs in both (src/crypto/provider.ts).
 */

/** RFC 4648 §4 base64, padded. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(fromLatin1(bytes));
}

/**
 * The bytes of base64 or base64url text as atob reads it (padding optional): no check of its
 * alphanumerics or its spelling, which the callers make.
 */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/*
 * base64url by table, written here because Buffer is Node's alone and atob/btoa go through a
 * Latin-1 string and three regular expressions: about 10 us for a 32-byte hash against 1 us, on a
 * path (keys, signatures, proofs) taken dozens of times per request.
 */
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const sextets = new Int8Array(128).fill(-1);
for (let i = 0; i < alphabet.length; i++) sextets[alphabet.charCodeAt(i)] = i;

/** RFC 4648 §5 base64url without padding. */
export function toB64u(bytes: Uint8Array): string {
  // Long inputs through btoa: one flat string rather than a rope of four-character pieces.
  if (bytes.length > 3072) return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  if (bytes.length - i === 1) {
    const n = bytes[i]! << 16;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]!;
  } else if (bytes.length - i === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]!;
  }
  return out;
}

/** Strict base64url without padding; `expectedLength` in bytes when the field has a fixed size. */
export function fromB64u(text: string, field: string, expectedLength?: number): Uint8Array {
  const tail = text.length % 4;
  if (tail === 1) throw new MimiError('record-invalid', `${field} is not base64url without padding`);
  const out = new Uint8Array(((text.length - tail) / 4) * 3 + (tail === 0 ? 0 : tail - 1));
  const at = (k: number): number => {
    const c = text.charCodeAt(k);
    const v = c < 128 ? sextets[c]! : -1;
    if (v < 0) throw new MimiError('record-invalid', `${field} is not base64url without padding`);
    return v;
  };
  let o = 0;
  let k = 0;
  for (; k + 3 < text.length; k += 4) {
    const n = (at(k) << 18) | (at(k + 1) << 12) | (at(k + 2) << 6) | at(k + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (tail > 0) {
    const last = at(k + tail - 1);
    // Reject non-canonical encodings (stray low bits) so one value has one spelling.
    if ((tail === 2 ? last & 15 : last & 3) !== 0)
      throw new MimiError('record-invalid', `${field} is not canonical base64url`);
    const n = (at(k) << 18) | (at(k + 1) << 12) | (tail === 3 ? last << 6 : 0);
    out[o++] = n >> 16;
    if (tail === 3) out[o++] = (n >> 8) & 255;
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new MimiError('record-invalid', `${field} must be ${expectedLength} bytes, got ${out.length}`);
  }
  return out;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** The UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** `bytes` read as UTF-8, a bad sequence replaced by U+FFFD as Buffer's toString does. */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** `bytes` read as Latin-1: one character per byte. */
export function fromLatin1(bytes: Uint8Array): string {
  let out = '';
  // String.fromCharCode takes its bytes as arguments: a chunk at a time keeps under the stack limit.
  for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return out;
}

/** The Latin-1 bytes of `text` (each character's low byte, as Buffer's latin1 does). */
export function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A DataView of exactly `bytes` (which may be a view into a larger buffer): big-endian fields. */
export function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
