import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateLookupClient } from '../../src/client/private-lookup.js';
import { createSodiumOprfClient } from '../../src/crypto/oprf-client-sodium.js';
import { finalizeHash, hashToGroupUniform } from '../../src/crypto/oprf-suite.js';
import { openEntry, tagOf } from '../../src/crypto/private-entry.js';
import { sha256 } from '../../src/crypto/sign.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { type BucketEntry, decodeBucket, type EpochsAnswer } from '../../src/protocol/private.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R22, R28: bucket downloads need no evaluation, so anyone can download them all; that is useless
 * without one evaluation per guess. Even an attacker who already knows every CSI in the directory
 * cannot find, link or open a single entry without the DP's OPRF key.
 */
describe('a full download of every bucket decrypts nothing without evaluations', () => {
  let net: RunningDevnet;
  // Enough CSIs that a random key splits them into halves of at least k = 2 all but about once in
  // 10^8 draws (with 12, one draw in 160 left a half short and the index in one bucket).
  const csis = Array.from({ length: 32 }, (_, i) => `tel:+1415555${String(200 + i).padStart(4, '0')}`);

  beforeAll(async () => {
    await sodium.ready;
    net = await startDevnet({}, { configure: (c) => (c.privateLookup = { kAnonymity: 2 }) });
    const msp1 = net.msp('msp1');
    for (const csi of csis) {
      const h = net.holder();
      const att = await net.prove(h, csi);
      await msp1.submit(
        await msp1.confirm(
          h.signMapping({ csi, msp: 'msp1', ssi: `mimi://chat.example/u/${csi.slice(5)}`, attestation: att }),
        ),
      );
    }
    // Re-bucket with the directory filled (the first epoch was built empty, in one bucket).
    await net.ctx.privateLookup!.index.rotate();
  });
  afterAll(async () => {
    await net.close();
  });

  async function downloadAll() {
    const info = (await (await fetch(`${net.url}/v1/private/epochs`)).json()) as EpochsAnswer;
    const all: { epoch: number; bucket: number; entries: BucketEntry[]; raw: Uint8Array }[] = [];
    for (const e of info.epochs) {
      for (let b = 0; b < e.bucketCount; b++) {
        const res = await fetch(`${net.url}/v1/private/buckets/${e.id}/${b}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toContain('public');
        const raw = new Uint8Array(await res.arrayBuffer());
        all.push({
          epoch: e.id,
          bucket: b,
          entries: decodeBucket(raw, { epoch: e.id, bits: e.bucketBits, bucket: b }).entries,
          raw,
        });
      }
    }
    return { info, all };
  }

  it('every entry of every bucket resists the known-CSI attacker; one evaluation opens exactly one', async () => {
    const { info, all } = await downloadAll();
    const current = info.epochs.find((e) => e.id === info.current)!;
    expect(current.bucketCount).toBeGreaterThan(1);
    // R22: k-anonymity reached and published; buckets are padded to equal-ish sizes.
    expect(current.minBucket).toBeGreaterThanOrEqual(2);
    const sizes = all.filter((x) => x.epoch === current.id).map((x) => x.entries.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(csis.length);
    // Padding hides the exact count: every bucket holds a whole number of 8-entry steps, at least
    // the padded size (a bucket that happens to draw more real entries grows by a whole step).
    const smallest = Math.min(...sizes);
    expect(sizes.every((n) => n % 8 === 0 && n >= smallest)).toBe(true);
    expect(smallest).toBeGreaterThanOrEqual(8);

    const enc = new TextEncoder();
    // Every guess the attacker can make without the key: no key, a random key, a plain hash.
    const randomKey = sodium.crypto_core_ristretto255_scalar_random();
    const guesses = csis.flatMap((csi) => {
      const input = enc.encode(csi);
      const element = sodium.crypto_core_ristretto255_from_hash(hashToGroupUniform(input));
      return [
        finalizeHash(input, element),
        finalizeHash(input, sodium.crypto_scalarmult_ristretto255(randomKey, element)),
        new Uint8Array(Buffer.concat([sha256(csi), sha256(input)])),
      ];
    });
    const tags = new Set(guesses.map((g) => toB64u(tagOf(g))));
    let tried = 0;
    for (const { entries, raw } of all) {
      for (const s of [...csis, 'chat.example', '"mappings"', 'mimi://']) {
        expect(Buffer.from(raw).includes(Buffer.from(s))).toBe(false);
      }
      for (const e of entries) {
        expect(tags.has(toB64u(e.tag))).toBe(false);
        for (const g of guesses.slice(0, 6)) {
          expect(() => openEntry(g, e.tag, e.payload)).toThrow();
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(0);

    // The legitimate way: one charged evaluation, one entry found and opened, verified.
    const client = new PrivateLookupClient({
      dp: { baseUrl: net.url, id: 'dp1' },
      registry: () => net.registry,
      oprf: await createSodiumOprfClient(),
      now: net.clock.now,
    });
    const [r] = await client.lookup([csis[3]!]);
    expect(r?.status).toBe('one');
    expect(client.lastStats).toMatchObject({ evaluated: 1, buckets: 1 });
  });

  it('the same bucket downloads byte for byte the same (dummies are stable) and revalidates with 304', async () => {
    const first = await fetch(`${net.url}/v1/private/buckets/${(await downloadAll()).info.current}/0`);
    const etag = first.headers.get('etag')!;
    const again = await fetch(first.url);
    expect(Buffer.from(await again.arrayBuffer()).equals(Buffer.from(await first.arrayBuffer()))).toBe(true);
    const cached = await fetch(first.url, { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);
  });

  it('unknown epochs and buckets out of range are 404 with a code', async () => {
    const info = (await downloadAll()).info;
    const current = info.epochs.find((e) => e.id === info.current)!;
    const bad = [
      [`/v1/private/buckets/${info.current + 7}/0`, 'epoch-unknown'],
      [`/v1/private/buckets/${info.current}/${current.bucketCount}`, 'not-found'],
      [`/v1/private/buckets/${info.current}/-1`, 'not-found'],
      [`/v1/private/buckets/x/0`, 'not-found'],
    ];
    for (const [path, code] of bad) {
      const res = await fetch(`${net.url}${path}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe(code);
    }
  });
});
