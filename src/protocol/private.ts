import { type Static, Type } from '@sinclair/typebox';
import { dataView, latin1 } from './encoding.js';
import { MimiError } from './errors.js';
import { MappingLogProof } from './transparency.js';

/**
 * Wire records of the private lookup path (DESIGN.md "Lookup paths and privacy"; R9, R22, R26,
 * R28): RFC 9497, suite ristretto255-SHA512, mode VOPRF. Elements travel as base64url of
 * their 32-byte RFC 9497 §2.1 serialisation, proofs as base64url of their 64 bytes (c || s).
 * The mode is named in the epochs answer (`voprf`; it was `oprf` before the proofs), so a client
 * and a DP that disagree on it fail on that record before any evaluation.
 */
export const PrivateSuite = { Suite: 'ristretto255-SHA512', Mode: 'voprf' } as const;

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
  /** RFC 9497 §2.2.1 proof for the whole batch, base64url of 64 bytes; checked by the client. */
  proof: Type.String({ maxLength: 128 }),
});
export type EvaluateAnswer = Static<typeof EvaluateAnswer>;

export const EpochInfo = Type.Object({
  id: Epoch,
  state: Type.Union([Type.Literal('active'), Type.Literal('retiring')]),
  /** pkS = skS * G (RFC 9497 §3.2), base64url: the key every proof of this epoch is checked against. */
  publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  bucketBits: Type.Integer({ minimum: 0, maximum: 24 }),
  bucketCount: Type.Integer({ minimum: 1 }),
  /** Fewest real entries in a bucket when the epoch became active (k-anonymity reached). */
  minBucket: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  activatedAt: Type.Union([Time, Type.Null()]),
  /** When a retiring epoch stops being served. */
  retireAt: Type.Union([Time, Type.Null()]),
  /**
   * R9, R26: the `oprf-key` leaf committing to this epoch's id and public key in the DP's
   * transparency log, its index, audit path and signed checkpoint. Absent without a log.
   */
  keyLog: Type.Optional(
    Type.Object(
      {
        // In the order the DP writes them (the answer is serialised through this schema).
        index: Type.Integer({ minimum: 0 }),
        checkpoint: MappingLogProof.properties.checkpoint,
        leaf: MappingLogProof.properties.leaf,
        proof: MappingLogProof.properties.proof,
      },
      { additionalProperties: false },
    ),
  ),
});
export type EpochInfo = Static<typeof EpochInfo>;

/**
 * GET /v1/private/epochs.
 *
 * @example
 * const { current, epochs } = await client.epochs();
 */
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
/**
 * EpochsAnswer as this implementation writes it: with maxBucketBatch, in its place. (fast-json-
 * stringify writes required members before optional ones, so the optional one would move.)
 */
export const EpochsAnswerAsServed = Type.Object({
  ...EpochsAnswer.properties,
  maxBucketBatch: Type.Integer({ minimum: 1 }),
});

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
const magic = latin1('MDB1');
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

/**
 * Entries in their wire framing, `tag[16] | len u16 | payload[len]` each: a bucket body without its
 * header once sorted by tag ({@link mergeFrames}). Stores read a bucket's real entries this way in
 * one piece, in no particular order (Store.privateBucket), so serving a bucket makes no object per
 * entry.
 */
export interface EntryFrames {
  count: number;
  bytes: Uint8Array;
}

const noFrames: EntryFrames = { count: 0, bytes: new Uint8Array(0) };

const u16At = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32At = (b: Uint8Array, o: number) => dataView(b).getUint32(o);

/** Byte order of the 16-byte tags at `ao` in `a` and `bo` in `b`, as Buffer.compare orders them. */
function compareTags(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let i = 0; i < tagLength; i++) {
    const d = a[ao + i]! - b[bo + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Frames entries, sorted by tag. */
export function frameEntries(entries: readonly BucketEntry[]): EntryFrames {
  if (entries.length === 0) return noFrames;
  for (const e of entries) {
    if (e.tag.length !== tagLength || e.payload.length > 0xffff) throw new TypeError('bad bucket entry');
  }
  const sorted = [...entries].sort((a, b) => compareTags(a.tag, 0, b.tag, 0));
  let size = 0;
  for (const e of sorted) size += tagLength + 2 + e.payload.length;
  const out = new Uint8Array(size);
  const v = dataView(out);
  let o = 0;
  for (const e of sorted) {
    out.set(e.tag, o);
    v.setUint16(o + tagLength, e.payload.length);
    out.set(e.payload, o + tagLength + 2);
    o += tagLength + 2 + e.payload.length;
  }
  return { count: sorted.length, bytes: out };
}

/** The end of the entry framed at `o` in `buf`. */
const entryEnd = (buf: Uint8Array, o: number) => o + tagLength + 2 + u16At(buf, o + tagLength);

/**
 * Start offsets of the `count` framed entries from `start`, which must end exactly at the end of
 * `buf`; `bad` makes the error for a framing that does not hold.
 */
function entryOffsets(buf: Uint8Array, start: number, count: number, bad: (why: string) => Error): number[] {
  const at: number[] = [];
  let o = start;
  for (let i = 0; i < count; i++) {
    if (o + tagLength + 2 > buf.length) throw bad('truncated');
    const next = entryEnd(buf, o);
    if (next > buf.length) throw bad('truncated');
    at.push(o);
    o = next;
  }
  if (o !== buf.length) throw bad('trailing bytes');
  return at;
}

/** The entry framed at `o`, as views into `buf`. */
function entryAt(buf: Uint8Array, o: number): BucketEntry {
  return { tag: buf.subarray(o, o + tagLength), payload: buf.subarray(o + tagLength + 2, entryEnd(buf, o)) };
}

/** Stored frames that do not parse are the store's fault, not the peer's: a plain error. */
const badFrames = (why: string) => new TypeError(`entry frames: ${why}`);

/** The entries of framed runs, as views into them. */
export function entriesOf(f: EntryFrames): BucketEntry[] {
  return entryOffsets(f.bytes, 0, f.count, badFrames).map((o) => entryAt(f.bytes, o));
}

/**
 * The entries of framed runs (each checked, in any order) sorted by tag: each as its run and
 * start offset, with the framed bytes of all of them.
 */
function sortedEntries(parts: readonly EntryFrames[]): {
  at: { buf: Uint8Array; o: number }[];
  size: number;
} {
  const at: { buf: Uint8Array; o: number }[] = [];
  let size = 0;
  for (const p of parts) {
    for (const o of entryOffsets(p.bytes, 0, p.count, badFrames)) at.push({ buf: p.bytes, o });
    size += p.bytes.length;
  }
  at.sort((x, y) => compareTags(x.buf, x.o, y.buf, y.o));
  return { at, size };
}

/** Copies sorted entries into `out` from `o`; the offset after them. */
function writeEntries(out: Uint8Array, o: number, at: readonly { buf: Uint8Array; o: number }[]): number {
  for (const e of at) {
    const frame = e.buf.subarray(e.o, entryEnd(e.buf, e.o));
    out.set(frame, o);
    o += frame.length;
  }
  return o;
}

/**
 * Merges framed runs, each in any order, into one run sorted by tag (a bucket's parts: regions,
 * dummies). Every part's framing is checked, so a bad stored run fails here, not at the client.
 */
export function mergeFrames(parts: readonly EntryFrames[]): EntryFrames {
  const filled = parts.filter((p) => p.count > 0);
  if (filled.length === 0) return noFrames;
  const { at, size } = sortedEntries(filled);
  const out = new Uint8Array(size);
  writeEntries(out, 0, at);
  return { count: at.length, bytes: out };
}

/** A bucket to encode: its header and its entries as framed runs, each in any order. */
export interface BucketParts {
  head: Omit<Bucket, 'entries'>;
  parts: readonly EntryFrames[];
}

function writeHeader(out: Uint8Array, o: number, head: Omit<Bucket, 'entries'>, count: number): number {
  const v = dataView(out);
  out.set(magic, o);
  v.setUint32(o + 4, head.epoch);
  v.setUint8(o + 8, head.bits);
  v.setUint32(o + 9, head.bucket);
  v.setUint32(o + 13, count);
  return o + headerLength;
}

/**
 * A batch body (see {@link encodeBuckets}) of buckets given as parts, byte for byte
 * `encodeBuckets(buckets.map((b) => encodeBucketFrames(b.head, mergeFrames(b.parts))))`, but
 * written in one buffer: each entry is copied once, from its run to its place in the answer.
 */
export function encodeBucketBatch(buckets: readonly BucketParts[]): Uint8Array {
  const sorted = buckets.map((b) => sortedEntries(b.parts));
  const out = new Uint8Array(8 + sorted.reduce((n, s) => n + 4 + headerLength + s.size, 0));
  const v = dataView(out);
  out.set(batchMagic, 0);
  v.setUint32(4, buckets.length);
  let o = 8;
  buckets.forEach((b, i) => {
    const { at, size } = sorted[i]!;
    v.setUint32(o, headerLength + size);
    o = writeEntries(out, writeHeader(out, o + 4, b.head, at.length), at);
  });
  return out;
}

/** A bucket body from its framed entries (all of them: real and dummy). */
export function encodeBucketFrames(head: Omit<Bucket, 'entries'>, frames: EntryFrames): Uint8Array {
  const out = new Uint8Array(headerLength + frames.bytes.length);
  out.set(frames.bytes, writeHeader(out, 0, head, frames.count));
  return out;
}

/** A bucket body, entries sorted by tag. */
export function encodeBucket(b: Bucket): Uint8Array {
  return encodeBucketFrames(b, frameEntries(b.entries));
}

/** Strict decoder: any framing error, or a bucket other than the one asked for, is `record-invalid`. */
export function decodeBucket(
  bytes: Uint8Array,
  expect: { epoch: number; bits: number; bucket: number },
): Bucket {
  const at = bucketOffsets(bytes, expect);
  const { epoch, bits, bucket } = expect;
  return { epoch, bits, bucket, entries: at.map((o) => entryAt(bytes, o)) };
}

const startsWith = (bytes: Uint8Array, prefix: Uint8Array) =>
  bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);

/** Checks a bucket body's header against the bucket asked and its framing; the entries' offsets. */
function bucketOffsets(bytes: Uint8Array, expect: { epoch: number; bits: number; bucket: number }): number[] {
  const bad = (why: string) => new MimiError('record-invalid', `bucket: ${why}`);
  if (bytes.length < headerLength || !startsWith(bytes, magic)) throw bad('not a bucket');
  if (u32At(bytes, 4) !== expect.epoch || bytes[8] !== expect.bits || u32At(bytes, 9) !== expect.bucket) {
    throw bad('answers another bucket');
  }
  return entryOffsets(bytes, headerLength, u32At(bytes, 13), bad);
}

/**
 * POST /v1/private/buckets answers with the buckets asked, in order, each framed by its length:
 *
 *   "MDBN" | count u32 | count x (length u32 | bucket body as GET serves it)
 */
export const BucketsMediaType = 'application/vnd.mimi-discovery.buckets';
const batchMagic = latin1('MDBN');

/** A batch body from bucket bodies (as {@link encodeBucketFrames} makes them), in the order asked. */
export function encodeBuckets(bodies: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(8 + bodies.reduce((n, b) => n + 4 + b.length, 0));
  const v = dataView(out);
  out.set(batchMagic, 0);
  v.setUint32(4, bodies.length);
  let o = 8;
  for (const b of bodies) {
    v.setUint32(o, b.length);
    out.set(b, o + 4);
    o += 4 + b.length;
  }
  return out;
}

/**
 * Splits a batch body into its bucket bodies, checking the framing and the count; each body is
 * then checked against the bucket asked by {@link decodeBucket} or {@link findInBucket}.
 */
export function splitBuckets(bytes: Uint8Array, count: number): Uint8Array[] {
  const bad = (why: string) => new MimiError('record-invalid', `buckets: ${why}`);
  if (bytes.length < 8 || !startsWith(bytes, batchMagic)) throw bad('not a bucket batch');
  if (u32At(bytes, 4) !== count) throw bad(`expected ${count} buckets`);
  const out: Uint8Array[] = [];
  let o = 8;
  for (let i = 0; i < count; i++) {
    if (o + 4 > bytes.length) throw bad('truncated');
    const len = u32At(bytes, o);
    if (o + 4 + len > bytes.length) throw bad('truncated');
    out.push(bytes.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  if (o !== bytes.length) throw bad('trailing bytes');
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
  const at = bucketOffsets(bytes, expect);
  const found = new Array<Uint8Array | undefined>(tags.length).fill(undefined);
  for (const o of at) {
    for (let j = 0; j < tags.length; j++) {
      if (found[j] === undefined && compareTags(tags[j]!, 0, bytes, o) === 0) {
        found[j] = entryAt(bytes, o).payload;
      }
    }
  }
  return found;
}
