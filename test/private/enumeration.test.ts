import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeHash, hashToGroupUniform } from '../../src/crypto/oprf-suite.js';
import { bucketKeyOf, bucketOf, openEntry, tagOf } from '../../src/crypto/private-entry.js';
import { fromB64u, toB64u } from '../../src/protocol/encoding.js';
import { decodeBucket, type EpochsAnswer } from '../../src/protocol/private.js';
import { verifyMapping } from '../../src/registry/verify-mapping.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R22, R28: one credential tries to enumerate 100,000 phone numbers through the real endpoint.
 * Evaluation is the only way to learn anything, so it learns at most its budget, whatever it does
 * with the buckets. The attacker skips blinding (it has nothing to hide), which makes each guess
 * as cheap as it can be for it.
 */
describe('enumeration from one credential is bounded by its budget', () => {
  const budget = 5_000;
  const total = 100_000;
  const batch = 1_000;
  const number = (i: number) => `tel:+1415${String(2_000_000 + i).padStart(7, '0')}`;
  const seeded = [10, 2_000, 4_500, 20_000, 50_000, 99_999];
  let net: RunningDevnet;

  beforeAll(async () => {
    await sodium.ready;
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.privateLookup = {
            maxEvaluateBatch: batch,
            mspEvaluations: { points: budget, perSeconds: 86_400 },
          };
          // The plain path's day budget for an MSP without a registry tier, the same as the
          // private path's (the defaults are too: 100,000); the minute budget out of the way.
          c.limits = { ...c.limits, maxBatch: batch, mspLookupPerMinute: total, mspLookupPerDay: budget };
        },
      },
    );
    const msp1 = net.msp('msp1');
    for (const i of seeded) {
      const h = net.holder();
      const att = await net.prove(h, number(i));
      await msp1.submit(
        await msp1.confirm(
          h.signMapping({ csi: att.csi, msp: 'msp1', ssi: `mimi://chat.example/u/n${i}`, attestation: att }),
        ),
      );
    }
  });
  afterAll(async () => {
    await net.close();
  });

  it('100,000 guesses in batches of 1,000: 5,000 evaluated, the rest rate-limited, 3 numbers learnt', async () => {
    const token = await net.msp('msp3').sessionToken();
    const info = (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as EpochsAnswer;
    const epoch = info.epochs.find((e) => e.id === info.current)!;
    const outs = new Map<number, Uint8Array>();
    let refused = 0;
    for (let start = 0; start < total; start += batch) {
      const inputs = Array.from({ length: batch }, (_, j) => new TextEncoder().encode(number(start + j)));
      const elements = inputs.map((x) =>
        toB64u(sodium.crypto_core_ristretto255_from_hash(hashToGroupUniform(x))),
      );
      const res = await fetch(`${net.url}/v1/private/evaluate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ v: 1, epoch: epoch.id, elements }),
      });
      const body = (await res.json()) as { code?: string; evaluated?: string[] };
      if (res.status === 429) {
        expect(body.code).toBe('rate-limited');
        expect(res.headers.get('retry-after')).not.toBeNull();
        refused++;
        continue;
      }
      expect(res.status).toBe(200);
      // Blind 1: the evaluated element is the unblinded one (RFC 9497 §3.3.1 Finalize).
      for (const [j, z] of body.evaluated!.entries()) {
        outs.set(start + j, finalizeHash(inputs[j]!, fromB64u(z, 'z', 32)));
      }
    }
    expect(outs.size).toBe(budget);
    expect(refused).toBe((total - budget) / batch);

    // Bucket downloads are free: fetch every bucket an evaluated guess points to, and open what opens.
    const learnt: number[] = [];
    const buckets = new Map<number, Map<string, Uint8Array>>();
    for (const [i, out] of outs) {
      const b = bucketOf(bucketKeyOf(out), epoch.bucketBits);
      if (!buckets.has(b)) {
        const res = await fetch(`${net.url}/v1/private/buckets/${epoch.id}/${b}`);
        const decoded = decodeBucket(new Uint8Array(await res.arrayBuffer()), {
          epoch: epoch.id,
          bits: epoch.bucketBits,
          bucket: b,
        });
        buckets.set(b, new Map(decoded.entries.map((e) => [toB64u(e.tag), e.payload])));
      }
      const payload = buckets.get(b)!.get(toB64u(tagOf(out)));
      if (payload !== undefined) {
        // The entry rebuilds, for this CSI only, into a mapping whose signatures verify.
        const answer = JSON.parse(openEntry(out, tagOf(out), payload, { csi: number(i), dp: 'dp1' }));
        expect(answer.results[0].csi).toBe(number(i));
        verifyMapping(answer.results[0].mappings[0].mapping, {
          registry: net.registry,
          policy: {},
          now: net.clock.now(),
        });
        learnt.push(i);
      }
    }
    expect(learnt.length).toBeLessThanOrEqual(budget);
    expect(learnt.sort((a, b) => a - b)).toEqual(seeded.filter((i) => i < budget));
  });

  it('the same 100,000 guesses on the plain path: slowed after the first batch, 1,000 looked up', async () => {
    const token = await net.msp('msp2').sessionToken();
    const plainBatch = batch;
    let answered = 0;
    let refused = 0;
    const learnt: number[] = [];
    for (let start = 0; start < total; start += plainBatch) {
      const csis = Array.from({ length: plainBatch }, (_, j) => number(start + j));
      const res = await fetch(`${net.url}/v1/lookup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ v: 1, csis, format: 'compact' }),
      });
      const body = (await res.json()) as { code?: string; results?: { status: string }[] };
      if (res.status === 429) {
        expect(body.code).toBe('rate-limited');
        refused++;
        continue;
      }
      expect(res.status).toBe(200);
      answered += plainBatch;
      for (const [j, r] of body.results!.entries()) if (r.status !== 'none') learnt.push(start + j);
    }
    // One batch (past the reputation's minimum sample, a run of neighbours, nearly all unknown),
    // then slowed: 5,000 / 10 = 500 a day, already spent. Without a tier and without the scan
    // showing, the day budget (5,000 here, 100,000 by default) would have stopped it.
    expect(answered).toBe(batch);
    expect(refused).toBe(total / batch - 1);
    expect(learnt).toEqual(seeded.filter((i) => i < batch));
    const text = (await net.ctx.metrics.render()).body;
    expect(text).toContain('mimi_msp_lookup_slowed{msp="msp2"} 1');
  });
});
