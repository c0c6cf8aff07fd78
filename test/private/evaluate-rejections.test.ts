import { ristretto255 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nobleOprfClient } from '../../src/crypto/oprf-client-sodium.js';
import { toB64u } from '../../src/protocol/encoding.js';
import { type RunningDevnet, startDevnet } from '../support/devnet.js';

/** RFC 9497 §2.1, §3.3 over real HTTP: bad elements are refused with their own code, uncharged (R22). */
describe('POST /v1/private/evaluate rejections', () => {
  let net: RunningDevnet;
  let epoch: number;
  let token: string;
  const good = () => toB64u(nobleOprfClient.blindBatch([new Uint8Array([7])])[0]!.blindedElement);

  function offCurve(): string {
    for (let i = 1; ; i++) {
      const bytes = hexToBytes((BigInt(i) * 2n).toString(16).padStart(64, '0')).reverse();
      try {
        ristretto255.Point.fromBytes(bytes);
      } catch {
        return toB64u(bytes);
      }
    }
  }

  async function evaluate(body: unknown, auth: string | null = token) {
    const res = await fetch(`${net.url}/v1/private/evaluate`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(auth === null ? {} : { authorization: `Bearer ${auth}` }),
      },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as {
      code?: string;
      index?: number;
      evaluated?: string[];
      remaining?: number;
    };
    return { status: res.status, ...json };
  }

  beforeAll(async () => {
    net = await startDevnet(
      {},
      {
        configure: (c) => {
          c.privateLookup = {
            maxEvaluateBatch: 8,
            mspEvaluations: { points: 10, perSeconds: 3600 },
            anonymousEvaluations: { points: 3, perSeconds: 3600 },
          };
        },
      },
    );
    epoch = ((await (await fetch(`${net.url}/v1/private/epochs`)).json()) as { current: number }).current;
    token = await net.msp('msp3').sessionToken();
  });
  afterAll(async () => {
    await net.close();
  });

  it.each([
    ['identity element', () => toB64u(new Uint8Array(32)), 'oprf-identity-element'],
    ['off-curve encoding', offCurve, 'oprf-invalid-element'],
    [
      'non-canonical encoding (all 0xff)',
      () => toB64u(new Uint8Array(32).fill(0xff)),
      'oprf-invalid-element',
    ],
    ['31 bytes', () => toB64u(new Uint8Array(31).fill(1)), 'oprf-invalid-element'],
    ['33 bytes', () => toB64u(new Uint8Array(33).fill(1)), 'oprf-invalid-element'],
    ['not base64url', () => '!!!!', 'oprf-invalid-element'],
  ])('%s -> 400 %s with the index of the bad element', async (_name, bad, code) => {
    const res = await evaluate({ v: 1, epoch, elements: [good(), bad()] });
    expect(res.status).toBe(400);
    expect(res.code).toBe(code);
    expect(res.index).toBe(1);
  });

  it('R22: a batch over the limit is refused; an unknown epoch is 404 epoch-unknown', async () => {
    const many = Array.from({ length: 9 }, good);
    expect(await evaluate({ v: 1, epoch, elements: many })).toMatchObject({
      status: 400,
      code: 'oprf-batch-too-large',
    });
    expect(await evaluate({ v: 1, epoch: epoch + 5, elements: [good()] })).toMatchObject({
      status: 404,
      code: 'epoch-unknown',
    });
    expect(await evaluate({ v: 1, epoch, elements: [] })).toMatchObject({
      status: 400,
      code: 'record-invalid',
    });
    expect(await evaluate({ v: 1, epoch, elements: [good()] }, 'forged.token')).toMatchObject({
      status: 401,
      code: 'unauthenticated',
    });
  });

  it('R22: refused batches cost nothing; budgets are per credential and tier', async () => {
    // Every refusal above was free: the MSP still has its whole budget of 10.
    const ok = await evaluate({ v: 1, epoch, elements: Array.from({ length: 8 }, good) });
    expect(ok.status).toBe(200);
    expect(ok.evaluated).toHaveLength(8);
    // 2 left: a batch of 3 is refused whole, a batch of 2 passes, then nothing.
    expect(await evaluate({ v: 1, epoch, elements: [good(), good(), good()] })).toMatchObject({
      status: 429,
      code: 'rate-limited',
      remaining: 2,
    });
    expect((await evaluate({ v: 1, epoch, elements: [good(), good()] })).status).toBe(200);
    expect((await evaluate({ v: 1, epoch, elements: [good()] })).status).toBe(429);
    // The anonymous tier (by address) has its own, smaller budget.
    expect((await evaluate({ v: 1, epoch, elements: [good(), good(), good()] }, null)).status).toBe(200);
    expect(await evaluate({ v: 1, epoch, elements: [good()] }, null)).toMatchObject({
      status: 429,
      code: 'rate-limited',
    });
  });
});
