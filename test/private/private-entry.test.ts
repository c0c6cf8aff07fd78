import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketKeyOf,
  bucketOf,
  bucketRange,
  chooseBucketBits,
  openEntry,
  PAYLOAD_QUANTUM,
  sealEntry,
  tagOf,
} from '../../src/crypto/private-entry.js';
import { MimiError } from '../../src/protocol/errors.js';
import { decodeBucket, encodeBucket } from '../../src/protocol/private.js';

describe('private entry derivation and sealing', () => {
  it('opens under its own output only; payload lengths are padded to the quantum', () => {
    const out = randomBytes(64);
    const json = JSON.stringify({
      v: 1,
      results: [{ csi: 'tel:+14155550101', mappings: ['x'.repeat(900)] }],
    });
    const e = sealEntry(out, json);
    expect(e.tag).toEqual(tagOf(out));
    expect(e.bucketKey).toBe(bucketKeyOf(out));
    expect(openEntry(out, e.tag, e.payload)).toBe(json);
    expect((e.payload.length - 28) % PAYLOAD_QUANTUM).toBe(0);
    expect(() => openEntry(randomBytes(64), e.tag, e.payload)).toThrow(MimiError);
    expect(() => openEntry(out, tagOf(randomBytes(64)), e.payload)).toThrow(MimiError);
    const flipped = Uint8Array.from(e.payload);
    flipped[40]! ^= 1;
    expect(() => openEntry(out, e.tag, flipped)).toThrow(MimiError);
  });

  it('buckets partition the 32-bit key space', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 24 }), (key, bits) => {
        const b = bucketOf(key, bits);
        const [lo, hi] = bucketRange(b, bits);
        return b >= 0 && b < 2 ** bits && lo <= key && key <= hi;
      }),
    );
  });

  it('R22: chooses the most bits that keep every bucket at k or more', () => {
    expect(chooseBucketBits([5, 5, 5, 5], 5)).toEqual({ bits: 2, min: 5 });
    expect(chooseBucketBits([5, 1, 5, 5], 5)).toEqual({ bits: 1, min: 6 });
    expect(chooseBucketBits([1, 0, 0, 1], 5)).toEqual({ bits: 0, min: 2 });
    expect(chooseBucketBits([0, 0], 1)).toEqual({ bits: 0, min: 0 });
  });
});

describe('bucket wire format', () => {
  const entry = fc.record({
    tag: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    payload: fc.uint8Array({ maxLength: 300 }),
  });
  it('decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), fc.integer({ min: 1, max: 1000 }), (entries, epoch) => {
        const b = { epoch, bits: 3, bucket: 5, entries };
        const d = decodeBucket(encodeBucket(b), b);
        return (
          d.entries.length === entries.length &&
          d.entries.every(
            (e, i) =>
              Buffer.from(e.tag).equals(Buffer.from(entries[i]!.tag)) &&
              Buffer.from(e.payload).equals(Buffer.from(entries[i]!.payload)),
          )
        );
      }),
    );
  });
  it('garbage and truncations only ever raise record-invalid', () => {
    const valid = encodeBucket({
      epoch: 1,
      bits: 0,
      bucket: 0,
      entries: [{ tag: new Uint8Array(16), payload: new Uint8Array(5) }],
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
        ),
        (bytes) => {
          try {
            decodeBucket(bytes, { epoch: 1, bits: 0, bucket: 0 });
            return true;
          } catch (err) {
            return err instanceof MimiError && err.code === 'record-invalid';
          }
        },
      ),
    );
    expect(() => decodeBucket(valid, { epoch: 2, bits: 0, bucket: 0 })).toThrow(/another bucket/);
  });
});
