import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/crypto/jcs.js';
import {
  bucketKeyOf,
  bucketOf,
  bucketRange,
  chooseBucketBits,
  openAnswer,
  openEntry,
  PAYLOAD_OVERHEAD,
  PAYLOAD_QUANTUM,
  PAYLOAD_QUANTUM_V1,
  sealAnswer,
  sealEntry,
  tagOf,
} from '../../src/crypto/private-entry.js';
import { type CryptoProvider, cryptoProvider, useCryptoProvider } from '../../src/crypto/provider.js';
import { nativeCrypto } from '../../src/crypto/provider-native.js';
import { wasmCrypto } from '../../src/crypto/provider-wasm.js';
import { digest } from '../../src/crypto/sign.js';
import { dummyFrames } from '../../src/dp/private-epoch-keys.js';
import { MimiError } from '../../src/protocol/errors.js';
import {
  type BucketEntry,
  decodeBucket,
  type EntryFrames,
  encodeBucket,
  encodeBucketBatch,
  encodeBucketFrames,
  encodeBuckets,
  entriesOf,
  frameEntries,
  mergeFrames,
  splitBuckets,
} from '../../src/protocol/private.js';
import { thrownCode } from '../support/errors.js';

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
    expect((e.payload.length - 28) % PAYLOAD_QUANTUM_V1).toBe(0);
    expect(() => openEntry(randomBytes(64), e.tag, e.payload)).toThrow(MimiError);
    expect(() => openEntry(out, tagOf(randomBytes(64)), e.payload)).toThrow(MimiError);
    const flipped = Uint8Array.from(e.payload);
    flipped[40]! ^= 1;
    expect(() => openEntry(out, e.tag, flipped)).toThrow(MimiError);
  });

  // The shape of a stored mapping, canonical JSON as the DP keeps it (signatures are not checked here).
  const csi = 'tel:+14155550101';
  const sig = (c: string) => `${c.repeat(85)}A`;
  const attestation = {
    v: 1,
    csi,
    holderKey: 'H'.repeat(43),
    method: 'sms-otp',
    level: 'otp',
    issuer: 'verifier1',
    issuedAt: 1_700_000_000,
    expiresAt: 1_702_592_000,
    sig: sig('a'),
  };
  const mapping = (dp: string) => ({
    v: 1,
    body: {
      v: 1,
      csi,
      msp: 'msp1',
      ssi: 'mimi://chat.example/u/bob',
      tag: 'Default',
      priority: 0,
      holderKey: 'H'.repeat(43),
      attestation: digest(attestation),
      createdAt: 1_700_000_000,
      expiresAt: 1_701_728_000,
      supersedes: null,
    },
    attestation,
    holderSig: sig('h'),
    mspSig: sig('m'),
    dp,
    acceptedAt: 1_700_000_001,
    logIndex: null,
    dpSig: sig('d'),
  });

  it('v2 seals the mappings without what the client rebuilds, and opens to the verbose answer', () => {
    const out = randomBytes(64);
    const m = mapping('dp1');
    const e = sealAnswer(out, [canonicalize(m)], { csi, dp: 'dp1' });
    expect((e.payload.length - PAYLOAD_OVERHEAD) % PAYLOAD_QUANTUM).toBe(0);
    // One mapping fits in 448 bytes of plaintext (v1 took 768).
    expect(e.payload.length).toBeLessThanOrEqual(7 * PAYLOAD_QUANTUM + PAYLOAD_OVERHEAD);
    const answer = openAnswer(out, e.tag, e.payload, { csi, dp: 'dp1' });
    const expected = {
      v: 1,
      format: 'verbose',
      dp: 'dp1',
      results: [{ query: csi, csi, status: 'one', mappings: [{ id: digest(m), dps: ['dp1'], mapping: m }] }],
    };
    expect(answer).toEqual(expected);
    // Same text as the plain lookup's rendering: keys in canonical order.
    expect(JSON.stringify((answer as typeof expected).results[0]!.mappings[0]!.mapping)).toBe(
      canonicalize(m),
    );
    expect(JSON.parse(openEntry(out, e.tag, e.payload, { csi, dp: 'dp1' }))).toEqual(expected);
    expect(() => openEntry(out, e.tag, e.payload)).toThrow(TypeError);
    // Rebuilt for another CSI or DP, the mapping changes, so its signatures would not verify.
    const other = openAnswer(out, e.tag, e.payload, {
      csi: 'tel:+14155550102',
      dp: 'dp2',
    }) as typeof expected;
    expect(digest(other.results[0]!.mappings[0]!.mapping)).not.toBe(digest(m));
    expect(() => openAnswer(randomBytes(64), e.tag, e.payload, { csi, dp: 'dp1' })).toThrow(MimiError);
  });

  it('v2 leaves a field in when it differs from what the client would rebuild', () => {
    const out = randomBytes(64);
    const m = mapping('dp2'); // served by dp1, accepted by dp2
    const e = sealAnswer(out, [canonicalize(m)], { csi, dp: 'dp1' });
    const answer = openAnswer(out, e.tag, e.payload, { csi, dp: 'dp1' }) as {
      results: { mappings: { mapping: unknown }[] }[];
    };
    expect(answer.results[0]!.mappings[0]!.mapping).toEqual(m);
  });

  it('an answer whose payload would not fit the 16-bit length of a bucket entry is refused', () => {
    const out = randomBytes(64);
    const junk = randomBytes(80_000).toString('base64');
    const seal = (n: number) =>
      sealAnswer(out, [JSON.stringify({ junk: junk.slice(0, n) })], { csi, dp: 'dp1' });
    expect(thrownCode(() => seal(junk.length))).toBe('record-invalid');
    // The largest answer that still seals, found by bisection, frames with a 16-bit length.
    let [lo, hi] = [0, junk.length];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      try {
        seal(mid);
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    const largest = seal(lo).payload.length;
    expect(largest).toBeLessThanOrEqual(0xffff);
    expect(largest).toBeGreaterThan(0xffff - 64 - 28);
  });

  it('v1 entries (sealed before v2) still open', () => {
    const out = randomBytes(64);
    const json = JSON.stringify({ v: 1, format: 'verbose', dp: 'dp1', results: [] });
    const e = sealEntry(out, json);
    expect(openAnswer(out, e.tag, e.payload, { csi, dp: 'dp1' })).toEqual(JSON.parse(json));
  });

  // Sealed by the server's provider (node:crypto, node:zlib), opened by the browser's (@noble/ciphers,
  // fflate), and the other way round: the deflated bytes may differ, the format does not.
  const under = <T>(p: CryptoProvider, f: () => T): T => {
    const before = cryptoProvider();
    useCryptoProvider(p);
    try {
      return f();
    } finally {
      useCryptoProvider(before);
    }
  };
  it.each([
    { by: 'native', sealer: nativeCrypto, opener: wasmCrypto },
    { by: 'wasm', sealer: wasmCrypto, opener: nativeCrypto },
  ])('an entry sealed by the $by provider opens with the other, v1 and v2 alike', ({ sealer, opener }) => {
    const r = { csi, dp: 'dp1' };
    const m = [canonicalize(mapping('dp1')), canonicalize(mapping('dp2'))];
    const out = randomBytes(64);
    const v2 = under(sealer, () => sealAnswer(out, m, r));
    const v1 = under(sealer, () => sealEntry(out, JSON.stringify({ v: 1, results: m })));
    const expected = under(sealer, () => openAnswer(out, v2.tag, v2.payload, r));
    expect(expected).toMatchObject({ results: [{ status: 'several' }] });
    under(opener, () => {
      expect(openAnswer(out, v2.tag, v2.payload, r)).toEqual(expected);
      expect(openEntry(out, v1.tag, v1.payload)).toBe(JSON.stringify({ v: 1, results: m }));
      expect(tagOf(out)).toEqual(v2.tag);
      expect(bucketKeyOf(out)).toBe(v2.bucketKey);
      // Any failure is the one opaque code, whichever provider opens.
      const flipped = Uint8Array.from(v2.payload);
      flipped[flipped.length - 1]! ^= 1;
      expect(thrownCode(() => openAnswer(out, v2.tag, flipped, r))).toBe('record-invalid');
      expect(thrownCode(() => openAnswer(out, v2.tag, v2.payload.subarray(0, 40), r))).toBe('record-invalid');
      expect(thrownCode(() => openAnswer(randomBytes(64), v2.tag, v2.payload, r))).toBe('record-invalid');
      expect(thrownCode(() => openAnswer(out, tagOf(randomBytes(64)), v2.payload, r))).toBe('record-invalid');
    });
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
  const same = (a: readonly BucketEntry[], b: readonly BucketEntry[]) =>
    a.length === b.length &&
    a.every(
      (e, i) =>
        Buffer.from(e.tag).equals(Buffer.from(b[i]!.tag)) &&
        Buffer.from(e.payload).equals(Buffer.from(b[i]!.payload)),
    );
  const byTag = (entries: readonly BucketEntry[]) =>
    [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.tag), Buffer.from(b.tag)));
  it('decode(encode(x)) = x in tag order', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), fc.integer({ min: 1, max: 1000 }), (entries, epoch) => {
        const b = { epoch, bits: 3, bucket: 5, entries };
        return same(decodeBucket(encodeBucket(b), b).entries, byTag(entries));
      }),
    );
  });
  /** Entries framed in the order given, as a store may read them. */
  const framedAsGiven = (entries: readonly BucketEntry[]): EntryFrames => ({
    count: entries.length,
    bytes: Buffer.concat(
      entries.flatMap((e) => [
        e.tag,
        Buffer.from([e.payload.length >> 8, e.payload.length & 0xff]),
        e.payload,
      ]),
    ),
  });
  it('merging framed runs gives the frames of all their entries, in tag order', () => {
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 10 }), { maxLength: 4 }), (parts) => {
        const all = byTag(parts.flat());
        const merged = mergeFrames(parts.map(frameEntries));
        // Runs in no particular order (Store.privateBucket) merge to the same sorted run.
        const unsorted = mergeFrames(parts.map(framedAsGiven));
        return (
          merged.count === all.length &&
          same(entriesOf(merged), all) &&
          unsorted.count === all.length &&
          same(entriesOf(unsorted), all)
        );
      }),
    );
  });
  it('a batch encoded from parts is byte for byte the batch of the merged bucket bodies', () => {
    const bucket = fc.record({
      bucket: fc.integer({ min: 0, max: 7 }),
      parts: fc.array(fc.array(entry, { maxLength: 8 }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(bucket, { maxLength: 5 }), fc.integer({ min: 1, max: 1000 }), (buckets, epoch) => {
        const given = buckets.map((b) => ({
          head: { epoch, bits: 3, bucket: b.bucket },
          parts: b.parts.map(framedAsGiven),
        }));
        const expected = encodeBuckets(given.map((b) => encodeBucketFrames(b.head, mergeFrames(b.parts))));
        const batch = encodeBucketBatch(given);
        if (Buffer.compare(batch, expected) !== 0) return false;
        // Each body decodes to its bucket's entries in tag order.
        return splitBuckets(batch, given.length).every((body, i) =>
          same(decodeBucket(body, given[i]!.head).entries, byTag(buckets[i]!.parts.flat())),
        );
      }),
    );
  });
  it("a bucket's dummies are framed from one stream: dummy i is the same however many are asked", () => {
    const key = randomBytes(32);
    const few = entriesOf(dummyFrames(key, 7, 3, 40));
    const many = entriesOf(dummyFrames(key, 7, 10, 40));
    expect(few).toHaveLength(3);
    expect(many.slice(0, 3)).toEqual(few);
    expect(many.every((e) => e.payload.length === 40)).toBe(true);
    // Another bucket's stream differs.
    expect(entriesOf(dummyFrames(key, 8, 3, 40))[0]!.tag).not.toEqual(few[0]!.tag);
    expect(dummyFrames(key, 7, 0, 40).count).toBe(0);
  });
  it('framed runs whose framing does not hold are refused', () => {
    const good = frameEntries([{ tag: new Uint8Array(16), payload: new Uint8Array(3) }]);
    const other = frameEntries([{ tag: new Uint8Array(16).fill(1), payload: new Uint8Array(1) }]);
    // Frames are the node's own (never a peer's bytes): a framing that does not hold is misuse.
    expect(thrownCode(() => mergeFrames([{ count: 1, bytes: good.bytes.subarray(1) }, other]))).toBe(
      'TypeError',
    );
    expect(thrownCode(() => mergeFrames([{ count: 2, bytes: good.bytes }, other]))).toBe('TypeError');
    expect(thrownCode(() => entriesOf({ count: 0, bytes: good.bytes }))).toBe('TypeError');
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
    expect(thrownCode(() => decodeBucket(valid, { epoch: 2, bits: 0, bucket: 0 }))).toBe('record-invalid');
  });
  it('a bucket batch cut anywhere, with bytes after it, or with another count is record-invalid', () => {
    const bodies = [0, 1, 2].map((bucket) =>
      encodeBucket({
        epoch: 1,
        bits: 2,
        bucket,
        entries: [{ tag: new Uint8Array(16).fill(bucket), payload: new Uint8Array(4) }],
      }),
    );
    const batch = encodeBuckets(bodies);
    expect(splitBuckets(batch, 3).map((b) => Uint8Array.from(b))).toEqual(bodies);
    const code = (bytes: Uint8Array, count: number) => {
      try {
        splitBuckets(bytes, count);
        return 'split';
      } catch (err) {
        return err instanceof MimiError ? err.code : String(err);
      }
    };
    for (let n = 0; n < batch.length; n++) expect(code(batch.subarray(0, n), 3)).toBe('record-invalid');
    expect(code(Buffer.concat([batch, Buffer.from([0])]), 3)).toBe('record-invalid');
    expect(code(batch, 2)).toBe('record-invalid');
    expect(code(batch, 4)).toBe('record-invalid');
  });
});
