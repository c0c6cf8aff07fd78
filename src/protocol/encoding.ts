import { MimiError } from './errors.js';

const b64url = /^[A-Za-z0-9_-]*$/;

export function toB64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Strict base64url without padding; `expectedLength` in bytes when the field has a fixed size. */
export function fromB64u(text: string, field: string, expectedLength?: number): Uint8Array {
  if (!b64url.test(text) || text.length % 4 === 1) {
    throw new MimiError('record-invalid', `${field} is not base64url without padding`);
  }
  const bytes = Buffer.from(text, 'base64url');
  // Reject non-canonical encodings (stray low bits) so one value has one spelling.
  if (bytes.toString('base64url') !== text) {
    throw new MimiError('record-invalid', `${field} is not canonical base64url`);
  }
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new MimiError('record-invalid', `${field} must be ${expectedLength} bytes, got ${bytes.length}`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
