import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenItem, openAndVerify, type VerifyContextData } from '../../src/client/private-verify.js';
import { canonicalize } from '../../src/crypto/jcs.js';
import { sealAnswer } from '../../src/crypto/private-entry.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/**
 * R9, R15: an entry of a private bucket gets the plain lookup's checks after it is opened, so a DP
 * (which holds the OPRF key and can seal anything under any CSI's output) cannot pass off a
 * tampered, truncated, swapped or expired answer. Entries are sealed here as a hostile DP would,
 * from real signed mappings.
 */
describe('sealed entries from a hostile DP', () => {
  let net: RunningDevnet;
  const bob = 'tel:+14155550101';
  const dave = 'tel:+14155550102';
  const stored = new Map<string, string>();
  const out = randomBytes(64);
  let ctx: VerifyContextData;

  beforeAll(async () => {
    net = await startDevnet();
    for (const [csi, msp, ssi] of [
      [bob, 'msp1', 'mimi://chat.example/u/bob'],
      [dave, 'msp2', 'mimi://talk.example/u/dave'],
    ] as const) {
      const agent = net.msp(msp);
      const holder = net.holder();
      const attestation = await net.prove(holder, csi);
      await agent.submit(await agent.confirm(holder.signMapping({ csi, msp, ssi, attestation })));
      const [found] = await agent.lookup([csi]);
      stored.set(csi, canonicalize(found!.mappings[0]!.mapping));
    }
    ctx = { dp: 'dp1', registry: net.registry, policy: {}, now: net.clock.now() };
  });
  afterAll(async () => {
    await net.close();
  });

  const entry = (csi: string, mappings: string[], dp = 'dp1'): OpenItem => {
    const sealed = sealAnswer(out, mappings, { csi, dp });
    return { csi, out, tag: sealed.tag, payload: sealed.payload };
  };
  const codeOf = (item: OpenItem, c: VerifyContextData = ctx) => {
    try {
      openAndVerify(item, c);
      return 'verified';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };

  it('the genuine entry opens to the verified mapping', () => {
    const result = openAndVerify(entry(bob, [stored.get(bob)!]), ctx);
    expect(result.status).toBe('one');
    expect(result.mappings[0]!.mapping.body.ssi).toBe('mimi://chat.example/u/bob');
  });

  it('tampered or truncated payloads, and a wrong tag, are record-invalid', () => {
    const good = entry(bob, [stored.get(bob)!]);
    const flipped = Uint8Array.from(good.payload);
    flipped[flipped.length - 5]! ^= 1;
    expect(codeOf({ ...good, payload: flipped })).toBe('record-invalid');
    expect(codeOf({ ...good, payload: good.payload.subarray(0, good.payload.length - 1) })).toBe(
      'record-invalid',
    );
    expect(codeOf({ ...good, payload: good.payload.subarray(0, 12) })).toBe('record-invalid');
    expect(codeOf({ ...good, tag: randomBytes(16) })).toBe('record-invalid');
  });

  it("another CSI's real mapping, sealed as this CSI's answer, is refused as an answer for another CSI", () => {
    // Dave's real, signed mapping, sealed by the DP as Bob's answer.
    expect(() => openAndVerify(entry(bob, [stored.get(dave)!]), ctx)).toThrow(
      expect.objectContaining({
        code: 'record-invalid',
        message: 'a mapping is for another CSI',
      }),
    );
  });

  it("a mapping whose signed content the DP changed fails the holder's signature", () => {
    const m = JSON.parse(stored.get(bob)!) as { body: { ssi: string } };
    m.body.ssi = 'mimi://chat.example/u/mallory';
    expect(() => openAndVerify(entry(bob, [canonicalize(m)]), ctx)).toThrow(
      expect.objectContaining({ code: 'holder-signature-invalid' }),
    );
  });

  it('R14: a mapping expired since it was sealed is dropped, not served', () => {
    const expiresAt = (JSON.parse(stored.get(bob)!) as { body: { expiresAt: number } }).body.expiresAt;
    const result = openAndVerify(entry(bob, [stored.get(bob)!]), { ...ctx, now: expiresAt });
    expect(result).toMatchObject({ status: 'none', mappings: [] });
  });
});
