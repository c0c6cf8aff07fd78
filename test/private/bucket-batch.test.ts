import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BucketsMediaType,
  decodeBucket,
  type EpochsAnswer,
  MAX_BUCKET_BATCH,
  splitBuckets,
} from '../../src/protocol/private.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';
import { thrownCode } from '../support/errors.js';

/**
 * POST /v1/private/buckets: many buckets of one epoch in one body, each exactly as the GET serves
 * it, in the order asked; bounded (R22) and revealing only the bucket ids, like the GETs.
 */
describe('batch bucket endpoint', () => {
  let net: RunningDevnet;
  let info: EpochsAnswer;

  beforeAll(async () => {
    net = await startDevnet({}, { configure: (c) => (c.privateLookup = { kAnonymity: 1 }) });
    const msp1 = net.msp('msp1');
    // 24 CSIs: a random key leaves them all in one half about once in 10^7 draws (with 8, once in
    // 128), so the epoch has several buckets to batch.
    for (let i = 0; i < 24; i++) {
      const csi = `tel:+1415555${String(300 + i).padStart(4, '0')}`;
      const h = net.holder();
      const att = await net.prove(h, csi);
      await msp1.submit(
        await msp1.confirm(
          h.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/u${i}`, attestation: att }),
        ),
      );
    }
    await net.ctx.privateLookup!.index.rotate();
    info = (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as EpochsAnswer;
  });
  afterAll(async () => {
    await net.close();
  });

  const post = (body: unknown) =>
    fetch(`${net.url}/v1/private/buckets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers the buckets asked, in order, byte for byte as the GETs; the limit is published', async () => {
    const epoch = info.epochs.find((e) => e.id === info.current)!;
    expect(epoch.bucketCount).toBeGreaterThan(1);
    expect(info.maxBucketBatch).toBe(MAX_BUCKET_BATCH);
    const asked = Array.from({ length: epoch.bucketCount }, (_, b) => b).reverse();
    const res = await post({ v: 1, epoch: epoch.id, buckets: asked });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(BucketsMediaType);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const bodies = splitBuckets(new Uint8Array(await res.arrayBuffer()), asked.length);
    for (const [i, b] of asked.entries()) {
      const get = new Uint8Array(
        await (await fetch(`${net.url}/v1/private/buckets/${epoch.id}/${b}`)).arrayBuffer(),
      );
      expect(Buffer.from(bodies[i]!).equals(Buffer.from(get))).toBe(true);
      expect(decodeBucket(bodies[i]!, { epoch: epoch.id, bits: epoch.bucketBits, bucket: b }).bucket).toBe(b);
    }
    // The client checks the count and the framing.
    expect(thrownCode(() => splitBuckets(bodies[0]!, 1))).toBe('record-invalid');
  });

  it('R22: bounded; bad batches are refused whole with their codes', async () => {
    const epoch = info.current;
    const tooMany = Array.from({ length: MAX_BUCKET_BATCH + 1 }, (_, i) => i);
    const cases: [unknown, number, string][] = [
      [{ v: 1, epoch, buckets: tooMany }, 400, 'batch-too-large'],
      [{ v: 1, epoch, buckets: [0, 0] }, 400, 'record-invalid'],
      [{ v: 1, epoch, buckets: [0, 2 ** 20] }, 404, 'not-found'],
      [{ v: 1, epoch: epoch + 50, buckets: [0] }, 404, 'epoch-unknown'],
      [{ v: 1, epoch, buckets: [] }, 400, 'record-invalid'],
      [{ v: 1, epoch, buckets: [-1] }, 400, 'record-invalid'],
      [{ v: 1, epoch, buckets: [0], csi: 'tel:+14155550300' }, 400, 'record-invalid'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([status, code]);
    }
  });
});
