import { readFileSync } from 'node:fs';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../../src/crypto/oprf-client-sodium.js';
import { OprfError } from '../../src/crypto/oprf-errors.js';
import { createOprfServer, generateKeyPair, ready } from '../../src/crypto/oprf-server.js';

interface Vector {
  batch: number;
  input: string[];
  blind: string[];
  blindedElement: string[];
  evaluationElement: string[];
  proof: string;
  output: string[];
}
const file = JSON.parse(readFileSync(new URL('../vectors/rfc9497-voprf.json', import.meta.url), 'utf8')) as {
  pkSm: string;
  vectors: Vector[];
};

/** A random source that returns the given blinds in turn (RFC 9497 vectors reproduce). */
function replay(blinds: string[]) {
  let i = 0;
  return (n: number) => {
    const b = hexToBytes(blinds[i++]!);
    if (b.length !== n) throw new Error('unexpected length');
    return b;
  };
}

let sodiumEngine: OprfClientEngine;
beforeAll(async () => {
  sodiumEngine = await createSodiumOprfClient();
  await ready();
});

describe('RFC 9497 Appendix A.1.2 (VOPRF): both client engines reproduce every vector', () => {
  for (const name of ['noble', 'libsodium']) {
    it(`${name}`, () => {
      const engine = name === 'noble' ? nobleOprfClient : sodiumEngine;
      for (const v of file.vectors) {
        const inputs = v.input.map(hexToBytes);
        const blinded = engine.blindBatch(inputs, replay(v.blind));
        expect(blinded.map((b) => bytesToHex(b.blindedElement))).toEqual(v.blindedElement);
        // The RFC's proof verifies against pkSm on both engines before anything is unblinded.
        const outs = engine.finalizeBatch(
          inputs,
          blinded,
          v.evaluationElement.map(hexToBytes),
          hexToBytes(v.proof),
          hexToBytes(file.pkSm),
        );
        expect(outs.map(bytesToHex)).toEqual(v.output);
      }
    });
  }
});

describe('the two engines agree', () => {
  it('on 50 random inputs in one batch, against the libsodium server', async () => {
    const server = await createOprfServer(generateKeyPair().secretKey);
    const inputs = Array.from({ length: 50 }, (_, i) => randomBytes(1 + (i % 40)));
    const a = sodiumEngine.blindBatch(inputs);
    const b = nobleOprfClient.blindBatch(inputs);
    const evA = server.blindEvaluate(a.map((x) => x.blindedElement));
    const evB = server.blindEvaluate(b.map((x) => x.blindedElement));
    const outA = sodiumEngine.finalizeBatch(inputs, a, evA.evaluated, evA.proof, server.publicKey);
    const outB = nobleOprfClient.finalizeBatch(inputs, b, evB.evaluated, evB.proof, server.publicKey);
    expect(outA.map(bytesToHex)).toEqual(outB.map(bytesToHex));
    expect(outA.map(bytesToHex)).toEqual(inputs.map((x) => bytesToHex(server.evaluate(x))));
  });

  it('RFC 9497 §2.1: both reject identity, off-curve and mis-sized evaluated elements with the same code', async () => {
    const input = [new Uint8Array([1])];
    let offCurve = new Uint8Array(32);
    for (let i = 1; ; i++) {
      offCurve = hexToBytes((BigInt(i) * 2n).toString(16).padStart(64, '0')).reverse();
      try {
        ristretto255.Point.fromBytes(offCurve);
      } catch {
        break;
      }
    }
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(32), 'oprf-identity-element'],
      [offCurve, 'oprf-invalid-element'],
      [new Uint8Array(31).fill(1), 'oprf-invalid-element'],
    ];
    const server = await createOprfServer(generateKeyPair().secretKey);
    for (const engine of [nobleOprfClient, sodiumEngine]) {
      const [b] = engine.blindBatch(input);
      const { proof } = server.blindEvaluate([b!.blindedElement]);
      for (const [element, code] of cases) {
        try {
          engine.finalizeBatch(input, [b!], [element], proof, server.publicKey);
          expect.unreachable();
        } catch (err) {
          expect(err).toBeInstanceOf(OprfError);
          expect((err as OprfError).code).toBe(code);
          expect((err as OprfError).index).toBe(0);
        }
      }
    }
  });
});
