import { type Static, Type } from '@sinclair/typebox';
import { MimiError } from './errors.js';

/**
 * Wire records of the private lookup path (DESIGN.md "Lookup paths and privacy"; R9, R22, R26,
 * R28): RFC 9497 OPRF, suite ristretto255-SHA512, mode OPRF. Elements travel as base64url of
 * their 32-byte RFC 9497 §2.1 serialisation.
 */
export const PrivateSuite = { Suite: 'ristretto255-SHA512', Mode: 'oprf' } as const;

// Decoded and checked by the evaluator itself, so a bad element gets its RFC 9497 code and index.
const Element = Type.String({ maxLength: 64 });
const Epoch = Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 });
const Time = Type.Integer({ minimum: 0, maximum: 2 ** 40 });

/** POST /v1/private/evaluate: blinded elements, evaluated under the epoch the client names. */
export const EvaluateRequest = Type.Object(
  {
    v: Type.Literal(1),
    epoch: Epoch,
    elements: Type.Array(Element, { minItems: 1, maxItems: 10_000 }),
  },
  { additionalProperties: false },
);
export type EvaluateRequest = Static<typeof EvaluateRequest>;

export const EvaluateAnswer = Type.Object({
  v: Type.Literal(1),
  epoch: Epoch,
  evaluated: Type.Array(Element),
});
export type EvaluateAnswer = Static<typeof EvaluateAnswer>;

export const EpochInfo = Type.Object({
  id: Epoch,
  state: Type.Union([Type.Literal('active'), Type.Literal('retiring')]),
  /** pkS = skS * G (RFC 9497 §3.2), base64url; identifies the key. */
  publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  bucketBits: Type.Integer({ minimum: 0, maximum: 24 }),
  bucketCount: Type.Integer({ minimum: 1 }),
  /** Fewest real entries in a bucket when the epoch became active (k-anonymity reached). */
  minBucket: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  activatedAt: Type.Union([Time, Type.Null()]),
  /** When a retiring epoch stops being served. */
  retireAt: Type.Union([Time, Type.Null()]),
});
export type EpochInfo = Static<typeof EpochInfo>;

/** GET /v1/private/epochs. */
export const EpochsAnswer = Type.Object({
  v: Type.Literal(1),
  suite: Type.Literal(PrivateSuite.Suite),
  mode: Type.Literal(PrivateSuite.Mode),
  /** The epoch new evaluations should use. */
  current: Epoch,
  kAnonymity: Type.Integer({ minimum: 1 }),
  maxEvaluateBatch: Type.Integer({ minimum: 1 }),
  /** Most buckets per POST /v1/private/buckets; absent on a DP without that endpoint. */
  maxBucketBatch: Type.Optional(Type.Integer({ minimum: 1 })),
  epochs: Type.Array(EpochInfo, { minItems: 1 }),
});
export type EpochsAnswer = Static<typeof EpochsAnswer>;

/** Most buckets one POST /v1/private/buckets may ask for (R22: batch sizes are bounded). */
export const MAX_BUCKET_BATCH = 128;

/** POST /v1/private/buckets: several buckets of one epoch, distinct, in the order wanted. */
export const BucketsRequest = Type.Object(
  {
    v: Type.Literal(1),
    epoch: Epoch,
    // The schema admits a little more than the limit, so an oversize batch gets batch-too-large.
    buckets: Type.Array(Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 }), {
      minItems: 1,
      maxItems: 4 * MAX_BUCKET_BATCH,
    }),
  },
  { additionalProperties: false },
);
export type BucketsRequest = Static<typeof BucketsRequest>;

// ---- bucket wire format -----------------------------------------------------------------------

/**
 * GET /v1/private/buckets/:epoch/:bucket answers with a compact binary body, since a contact sync
 * downloads about a thousand of them:
 *
 *   "MDB1" | epoch u32 | bits u8 | bucket u32 | count u32 | count x (tag[16] | len u16 | payload[len])
 *
 * All integers big-endian. Real and dummy entries are indistinguishable on the wire.
 */
export const BucketMediaType = 'application/vnd.mimi-discovery.bucket';
const magic = Buffer.from('MDB1');
const headerLength = 4 + 4 + 1 + 4 + 4;
const tagLength = 16;

export interface BucketEntry {
  tag: Uint8Array;
  payload: Uint8Array;
}

export interface Bucket {
  epoch: number;
  bits: number;
  bucket: number;
  entries: BucketEntry[];
}

export function encodeBucket(b: Bucket): Buffer {
  let size = headerLength;
  for (const e of b.entries) size += tagLength + 2 + e.payload.length;
  const out = Buffer.allocUnsafe(size);
  magic.copy(out, 0);
  out.writeUInt32BE(b.epoch, 4);
  out.writeUInt8(b.bits, 8);
  out.writeUInt32BE(b.bucket, 9);
  out.writeUInt32BE(b.entries.length, 13);
  let o = headerLength;
  for (const e of b.entries) {
    if (e.tag.length !== tagLength || e.payload.length > 0xffff) throw new TypeError('bad bucket entry');
    out.set(e.tag, o);
    out.writeUInt16BE(e.payload.length, o + tagLength);
    out.set(e.payload, o + tagLength + 2);
    o += tagLength + 2 + e.payload.length;
  }
  return out;
}

/** Strict decoder: any framing error, or a bucket other than the one asked for, is `record-invalid`. */
export function decodeBucket(
  bytes: Uint8Array,
  expect: { epoch: number; bits: number; bucket: number },
): Bucket {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new MimiError('record-invalid', `bucket: ${why}`);
  if (buf.length < headerLength || !buf.subarray(0, 4).equals(magic)) throw bad('not a bucket');
  const epoch = buf.readUInt32BE(4);
  const bits = buf.readUInt8(8);
  const bucket = buf.readUInt32BE(9);
  const count = buf.readUInt32BE(13);
  if (epoch !== expect.epoch || bits !== expect.bits || bucket !== expect.bucket) {
    throw bad('answers another bucket');
  }
  const entries: BucketEntry[] = [];
  let o = headerLength;
  for (let i = 0; i < count; i++) {
    if (o + tagLength + 2 > buf.length) throw bad('truncated');
    const len = buf.readUInt16BE(o + tagLength);
    if (o + tagLength + 2 + len > buf.length) throw bad('truncated');
    entries.push({
      tag: buf.subarray(o, o + tagLength),
      payload: buf.subarray(o + tagLength + 2, o + tagLength + 2 + len),
    });
    o += tagLength + 2 + len;
  }
  if (o !== buf.length) throw bad('trailing bytes');
  return { epoch, bits, bucket, entries };
}

/**
 * POST /v1/private/buckets answers with the buckets asked, in order, each framed by its length:
 *
 *   "MDBN" | count u32 | count x (length u32 | bucket body as GET serves it)
 */
export const BucketsMediaType = 'application/vnd.mimi-discovery.buckets';
const batchMagic = Buffer.from('MDBN');

export function encodeBuckets(buckets: readonly Bucket[]): Buffer {
  const bodies = buckets.map(encodeBucket);
  const head = Buffer.allocUnsafe(8);
  batchMagic.copy(head, 0);
  head.writeUInt32BE(bodies.length, 4);
  const parts: Buffer[] = [head];
  for (const b of bodies) {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/**
 * Splits a batch body into its bucket bodies, checking the framing and the count; each body is
 * then checked against the bucket asked by {@link decodeBucket} or {@link findInBucket}.
 */
export function splitBuckets(bytes: Uint8Array, count: number): Uint8Array[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new MimiError('record-invalid', `buckets: ${why}`);
  if (buf.length < 8 || !buf.subarray(0, 4).equals(batchMagic)) throw bad('not a bucket batch');
  if (buf.readUInt32BE(4) !== count) throw bad(`expected ${count} buckets`);
  const out: Uint8Array[] = [];
  let o = 8;
  for (let i = 0; i < count; i++) {
    if (o + 4 > buf.length) throw bad('truncated');
    const len = buf.readUInt32BE(o);
    if (o + 4 + len > buf.length) throw bad('truncated');
    out.push(buf.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  if (o !== buf.length) throw bad('trailing bytes');
  return out;
}

/**
 * The payloads of the entries with the given tags in one bucket body (undefined where absent),
 * with the same strict checks as {@link decodeBucket} but without materialising every entry.
 */
export function findInBucket(
  bytes: Uint8Array,
  expect: { epoch: number; bits: number; bucket: number },
  tags: readonly Uint8Array[],
): (Uint8Array | undefined)[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new MimiError('record-invalid', `bucket: ${why}`);
  if (buf.length < headerLength || !buf.subarray(0, 4).equals(magic)) throw bad('not a bucket');
  if (
    buf.readUInt32BE(4) !== expect.epoch ||
    buf.readUInt8(8) !== expect.bits ||
    buf.readUInt32BE(9) !== expect.bucket
  ) {
    throw bad('answers another bucket');
  }
  const count = buf.readUInt32BE(13);
  const found = new Array<Uint8Array | undefined>(tags.length).fill(undefined);
  const wanted = tags.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  let o = headerLength;
  for (let i = 0; i < count; i++) {
    if (o + tagLength + 2 > buf.length) throw bad('truncated');
    const len = buf.readUInt16BE(o + tagLength);
    if (o + tagLength + 2 + len > buf.length) throw bad('truncated');
    for (let j = 0; j < wanted.length; j++) {
      if (found[j] === undefined && buf.compare(wanted[j]!, 0, tagLength, o, o + tagLength) === 0) {
        found[j] = buf.subarray(o + tagLength + 2, o + tagLength + 2 + len);
      }
    }
    o += tagLength + 2 + len;
  }
  if (o !== buf.length) throw bad('trailing bytes');
  return found;
}
