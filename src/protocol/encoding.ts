import { MimiError } from './errors.js';

const b64url = /^[A-Za-z0-9_-]*$/;

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

/** RFC 4648 §5 base64url without padding. */
export function toB64u(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Strict base64url without padding; `expectedLength` in bytes when the field has a fixed size. */
export function fromB64u(text: string, field: string, expectedLength?: number): Uint8Array {
  if (!b64url.test(text) || text.length % 4 === 1) {
    throw new MimiError('record-invalid', `${field} is not base64url without padding`);
  }
  const bytes = decodeBase64(text);
  // Reject non-canonical encodings (stray low bits) so one value has one spelling.
  if (toB64u(bytes) !== text) {
    throw new MimiError('record-invalid', `${field} is not canonical base64url`);
  }
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new MimiError('record-invalid', `${field} must be ${expectedLength} bytes, got ${bytes.length}`);
  }
  return bytes;
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

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
