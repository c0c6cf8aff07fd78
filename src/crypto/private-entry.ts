import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { MimiError } from '../protocol/errors.js';

/**
 * What the private index derives from an RFC 9497 OPRF output `out` (DESIGN.md "Lookup paths and
 * privacy", R9, R28). The DP and the SDK share these functions, so they can only disagree on the
 * OPRF itself:
 *
 *   bucketKey = first 32 bits of SHA-256("mimi-discovery/v1/bucket" || out)
 *   tag       = first 16 bytes of SHA-256("mimi-discovery/v1/tag" || out)
 *   key       = HKDF-SHA256(ikm = out, salt = "", info = "mimi-discovery/v1/payload", 32)
 *   payload   = nonce(12) || AES-256-GCM(key, nonce, padded plaintext, aad = tag)
 *
 * A 128-bit tag keeps accidental collisions out of reach (2^-64 at 2^32 entries) at half the size.
 * The plaintext is the CSI's verbose answer, raw-deflated, length-prefixed and zero-padded to a
 * multiple of 256 bytes, so a payload's length says roughly how many mappings it holds and nothing
 * more. Without `out`, which only a rate-limited evaluation yields (R22), a payload is noise.
 */
export const PrivateLabel = {
  Bucket: 'mimi-discovery/v1/bucket',
  Tag: 'mimi-discovery/v1/tag',
  Payload: 'mimi-discovery/v1/payload',
} as const;

export const PRIVATE_TAG_LENGTH = 16;
const NONCE_LENGTH = 12;
const GCM_TAG_LENGTH = 16;
/** Plaintexts are padded to a multiple of this. */
export const PAYLOAD_QUANTUM = 256;
/** Payload overhead: nonce and GCM tag. */
export const PAYLOAD_OVERHEAD = NONCE_LENGTH + GCM_TAG_LENGTH;

function labelled(label: string, out: Uint8Array): Buffer {
  return createHash('sha256').update(label).update(out).digest();
}

function checkOut(out: Uint8Array): void {
  if (!(out instanceof Uint8Array) || out.length !== 64)
    throw new TypeError('out must be a 64-byte OPRF output');
}

/** The 32-bit bucket key; a bucket is its `bits` leading bits. */
export function bucketKeyOf(out: Uint8Array): number {
  checkOut(out);
  return labelled(PrivateLabel.Bucket, out).readUInt32BE(0);
}

/** Bucket index of a bucket key under `bits` leading bits (0 bits: one bucket, index 0). */
export function bucketOf(bucketKey: number, bits: number): number {
  return bits === 0 ? 0 : bucketKey >>> (32 - bits);
}

/** The inclusive range of bucket keys in bucket `bucket` of `bits` bits. */
export function bucketRange(bucket: number, bits: number): [number, number] {
  if (bits === 0) return [0, 0xffffffff];
  const width = 2 ** (32 - bits);
  return [bucket * width, bucket * width + width - 1];
}

export function tagOf(out: Uint8Array): Uint8Array {
  checkOut(out);
  return new Uint8Array(labelled(PrivateLabel.Tag, out).subarray(0, PRIVATE_TAG_LENGTH));
}

function payloadKey(out: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', out, new Uint8Array(0), PrivateLabel.Payload, 32));
}

/** Deflated, length-prefixed, zero-padded plaintext. */
function pad(json: string): Buffer {
  const packed = deflateRawSync(Buffer.from(json, 'utf8'));
  const size = Math.ceil((packed.length + 4) / PAYLOAD_QUANTUM) * PAYLOAD_QUANTUM;
  const plain = Buffer.alloc(size);
  plain.writeUInt32BE(packed.length, 0);
  packed.copy(plain, 4);
  return plain;
}

export interface SealedEntry {
  bucketKey: number;
  tag: Uint8Array;
  payload: Uint8Array;
}

/**
 * Seals a CSI's verbose answer under its OPRF output.
 *
 * @param out - the 64-byte OPRF output of the canonical CSI
 * @param json - the verbose answer for that CSI, as the plain lookup renders it
 * @param rng - nonce source (tests inject one)
 */
export function sealEntry(
  out: Uint8Array,
  json: string,
  rng: (n: number) => Uint8Array = randomBytes,
): SealedEntry {
  const tag = tagOf(out);
  const nonce = rng(NONCE_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', payloadKey(out), nonce, { authTagLength: GCM_TAG_LENGTH });
  cipher.setAAD(tag);
  const body = Buffer.concat([nonce, cipher.update(pad(json)), cipher.final(), cipher.getAuthTag()]);
  return {
    bucketKey: bucketKeyOf(out),
    tag,
    payload: new Uint8Array(body.buffer, body.byteOffset, body.length),
  };
}

/**
 * Opens a payload with the OPRF output it was sealed under. Any failure (wrong key, tampering,
 * bad padding) is one opaque `record-invalid`: it says which check failed, nothing secret.
 */
export function openEntry(out: Uint8Array, tag: Uint8Array, payload: Uint8Array): string {
  checkOut(out);
  if (payload.length < PAYLOAD_OVERHEAD + 4) throw new MimiError('record-invalid', 'private entry too short');
  const p = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', payloadKey(out), p.subarray(0, NONCE_LENGTH), {
      authTagLength: GCM_TAG_LENGTH,
    });
    decipher.setAAD(tag);
    decipher.setAuthTag(p.subarray(p.length - GCM_TAG_LENGTH));
    plain = Buffer.concat([
      decipher.update(p.subarray(NONCE_LENGTH, p.length - GCM_TAG_LENGTH)),
      decipher.final(),
    ]);
  } catch {
    throw new MimiError('record-invalid', 'private entry does not open under this OPRF output');
  }
  const length = plain.readUInt32BE(0);
  if (length > plain.length - 4 || plain.subarray(4 + length).some((b) => b !== 0)) {
    throw new MimiError('record-invalid', 'private entry padding is malformed');
  }
  try {
    return inflateRawSync(plain.subarray(4, 4 + length), { maxOutputLength: 1 << 20 }).toString('utf8');
  } catch {
    throw new MimiError('record-invalid', 'private entry does not inflate');
  }
}

/**
 * R22: the most bucket bits such that every bucket holds at least `k` entries (k-anonymity),
 * from entry counts per bucket at `maxBits` (dense, 2^maxBits long). Returns 0 bits (one bucket)
 * when even that holds fewer than k entries; `min` is the smallest bucket at the chosen bits.
 */
export function chooseBucketBits(countsAtMax: readonly number[], k: number): { bits: number; min: number } {
  let counts = Array.from(countsAtMax);
  let bits = Math.log2(counts.length);
  if (!Number.isInteger(bits)) throw new TypeError('counts must have a power-of-two length');
  for (;;) {
    const min = counts.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
    if (min >= k || bits === 0) return { bits, min };
    const halved = new Array<number>(counts.length / 2);
    for (let i = 0; i < halved.length; i++) halved[i] = counts[2 * i]! + counts[2 * i + 1]!;
    counts = halved;
    bits--;
  }
}
