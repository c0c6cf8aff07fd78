import { readFileSync } from 'node:fs';
import {
  DLEQProof,
  Evaluation,
  EvaluationRequest,
  Oprf,
  VOPRFClient,
  VOPRFServer,
} from '@cloudflare/voprf-ts';
import { CryptoNoble } from '@cloudflare/voprf-ts/crypto-noble';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlindResult } from '../../src/crypto/oprf-client.js';
import {
  createSodiumOprfClient,
  nobleOprfClient,
  type OprfClientEngine,
} from '../../src/crypto/oprf-client-sodium.js';
import { OprfError } from '../../src/crypto/oprf-errors.js';
import { createOprfServer, generateKeyPair, type OprfServer, ready } from '../../src/crypto/oprf-server.js';

/**
 * RFC 9497 §2.2, §3.3.2 (R9, R26): every evaluation batch carries one DLEQ proof, and both client
 * engines refuse to finalize an evaluation whose proof does not verify against the key they expect,
 * whatever is wrong with it; cross-checked with @cloudflare/voprf-ts in both directions.
 */

const file = JSON.parse(readFileSync(new URL('../vectors/rfc9497-voprf.json', import.meta.url), 'utf8')) as {
  skSm: string;
  pkSm: string;
};

let sodiumEngine: OprfClientEngine;
let server: OprfServer;
beforeAll(async () => {
  await ready();
  sodiumEngine = await createSodiumOprfClient();
  server = await createOprfServer(hexToBytes(file.skSm));
});

const engines = () =>
  [
    ['noble', nobleOprfClient],
    ['libsodium', sodiumEngine],
  ] as const;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no-error';
  } catch (err) {
    return err instanceof OprfError ? err.code : `other: ${(err as Error).message}`;
  }
}

const inputs = [new Uint8Array([1]), new Uint8Array([2, 3]), new Uint8Array([4, 5, 6])];
// L, little-endian: a scalar that is not reduced.
const ORDER_LE = hexToBytes('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** One honest round: blinded inputs, the server's evaluation and proof. */
function round(engine: OprfClientEngine, srv: OprfServer = server) {
  const blinded = engine.blindBatch(inputs);
  const answer = srv.blindEvaluate(blinded.map((b) => b.blindedElement));
  return { blinded, ...answer };
}

describe('VOPRF proofs: a bad proof is refused by both engines with oprf-proof-invalid', () => {
  for (const [name, engineOf] of [
    ['noble', () => nobleOprfClient],
    ['libsodium', () => sodiumEngine],
  ] as const) {
    it(`${name}: the honest proof verifies and gives the server's outputs`, () => {
      const engine = engineOf();
      const r = round(engine);
      const outs = engine.finalizeBatch(inputs, r.blinded, r.evaluated, r.proof, server.publicKey);
      expect(outs.map(bytesToHex)).toEqual(inputs.map((x) => bytesToHex(server.evaluate(x))));
    });

    it(`${name}: a tampered proof (any byte of c or s) is refused`, () => {
      const engine = engineOf();
      const r = round(engine);
      for (const at of [0, 17, 31, 32, 50, 62]) {
        const bad = Uint8Array.from(r.proof);
        bad[at]! ^= 0x01;
        expect(
          codeOf(() => engine.finalizeBatch(inputs, r.blinded, r.evaluated, bad, server.publicKey)),
        ).toBe('oprf-proof-invalid');
      }
    });

    it(`${name}: a proof for another batch is refused`, () => {
      const engine = engineOf();
      const a = round(engine);
      const b = round(engine);
      expect(
        codeOf(() => engine.finalizeBatch(inputs, a.blinded, a.evaluated, b.proof, server.publicKey)),
      ).toBe('oprf-proof-invalid');
      // Evaluated elements reordered under the batch's own proof: refused too.
      const swapped = [a.evaluated[1]!, a.evaluated[0]!, a.evaluated[2]!];
      expect(
        codeOf(() =>
          engine.finalizeBatch(
            [inputs[1]!, inputs[0]!, inputs[2]!],
            [a.blinded[1]!, a.blinded[0]!, a.blinded[2]!],
            swapped,
            a.proof,
            server.publicKey,
          ),
        ),
      ).toBe('oprf-proof-invalid');
    });

    it(`${name}: an evaluation under another key, with a valid proof for that key, is refused against the expected key`, async () => {
      const engine = engineOf();
      const other = await createOprfServer(generateKeyPair().secretKey);
      const r = round(engine, other);
      // The proof is sound for the other key...
      expect(
        codeOf(() => engine.finalizeBatch(inputs, r.blinded, r.evaluated, r.proof, other.publicKey)),
      ).toBe('no-error');
      // ...but not for the key the client expects: a per-client key is caught.
      expect(
        codeOf(() => engine.finalizeBatch(inputs, r.blinded, r.evaluated, r.proof, server.publicKey)),
      ).toBe('oprf-proof-invalid');
    });

    it(`${name}: one evaluated element replaced by another key's is refused`, async () => {
      const engine = engineOf();
      const other = await createOprfServer(generateKeyPair().secretKey);
      const r = round(engine);
      const mixed = [...r.evaluated];
      mixed[2] = other.blindEvaluate([r.blinded[2]!.blindedElement]).evaluated[0]!;
      expect(codeOf(() => engine.finalizeBatch(inputs, r.blinded, mixed, r.proof, server.publicKey))).toBe(
        'oprf-proof-invalid',
      );
    });

    it(`${name}: truncated, extended, empty, non-reduced, zero and garbage proof bytes are refused`, () => {
      const engine = engineOf();
      const r = round(engine);
      const nonReduced = Uint8Array.from(r.proof);
      nonReduced.set(ORDER_LE, 32);
      const cNonReduced = Uint8Array.from(r.proof);
      cNonReduced.set(ORDER_LE, 0);
      const cases = [
        r.proof.slice(0, 63),
        Uint8Array.from([...r.proof, 0]),
        new Uint8Array(0),
        nonReduced,
        cNonReduced,
        new Uint8Array(64),
        randomBytes(64),
        'not bytes' as unknown as Uint8Array,
      ];
      for (const proof of cases) {
        expect(
          codeOf(() => engine.finalizeBatch(inputs, r.blinded, r.evaluated, proof, server.publicKey)),
        ).toBe('oprf-proof-invalid');
      }
    });

    it(`${name}: nothing is learnt from a refused evaluation (no output returned)`, () => {
      const engine = engineOf();
      const r = round(engine);
      const bad = Uint8Array.from(r.proof);
      bad[5]! ^= 0x80;
      let outs: Uint8Array[] | undefined;
      try {
        outs = engine.finalizeBatch(inputs, r.blinded, r.evaluated, bad, server.publicKey);
      } catch {
        // refused
      }
      expect(outs).toBeUndefined();
    });
  }

  it('both engines agree on random proofs: every one refused', () => {
    const r = round(nobleOprfClient);
    for (let i = 0; i < 20; i++) {
      const proof = randomBytes(64);
      proof[31]! &= 0x0f;
      proof[63]! &= 0x0f;
      for (const [, engine] of engines()) {
        expect(
          codeOf(() => engine.finalizeBatch(inputs, r.blinded, r.evaluated, proof, server.publicKey)),
        ).toBe('oprf-proof-invalid');
      }
    }
  });

  it('a proof covers the batch: the server refuses an empty one', () => {
    expect(() => server.blindEvaluate([])).toThrow(TypeError);
  });
});

describe('cross-check with @cloudflare/voprf-ts (ristretto255-SHA512, VOPRF)', () => {
  const suite = Oprf.Suite.RISTRETTO255_SHA512;

  it('voprf-ts derives the same public key from skSm', async () => {
    const client = new VOPRFClient(suite, hexToBytes(file.pkSm), CryptoNoble);
    expect(bytesToHex(client.group.desElt(hexToBytes(file.pkSm)).serialize())).toBe(file.pkSm);
    expect(bytesToHex(server.publicKey)).toBe(file.pkSm);
  });

  it("voprf-ts's client verifies our server's proof and finalizes to our outputs", async () => {
    const client = new VOPRFClient(suite, server.publicKey, CryptoNoble);
    const [fin, req] = await client.blind(inputs);
    const ours = server.blindEvaluate(req.blinded.map((e) => e.serialize()));
    const g = client.group;
    const evaluation = new Evaluation(
      Oprf.Mode.VOPRF,
      ours.evaluated.map((b) => g.desElt(b)),
      DLEQProof.deserialize(g.id, ours.proof, CryptoNoble),
    );
    const outs = await client.finalize(fin, evaluation);
    expect(outs.map((o) => bytesToHex(o))).toEqual(inputs.map((x) => bytesToHex(server.evaluate(x))));
    // And refuses our proof for another key's evaluation, as we do.
    const other = await createOprfServer(generateKeyPair().secretKey);
    const foreign = other.blindEvaluate(req.blinded.map((e) => e.serialize()));
    const forged = new Evaluation(
      Oprf.Mode.VOPRF,
      foreign.evaluated.map((b) => g.desElt(b)),
      DLEQProof.deserialize(g.id, foreign.proof, CryptoNoble),
    );
    await expect(client.finalize(fin, forged)).rejects.toThrow();
  });

  for (const [name, engineOf] of [
    ['noble', () => nobleOprfClient],
    ['libsodium', () => sodiumEngine],
  ] as const) {
    it(`our ${name} client verifies voprf-ts's server proof and finalizes to its outputs`, async () => {
      const engine = engineOf();
      const theirs = new VOPRFServer(suite, hexToBytes(file.skSm), CryptoNoble);
      const blinded: BlindResult[] = engine.blindBatch(inputs);
      const g = new VOPRFClient(suite, server.publicKey, CryptoNoble).group;
      const evaluation = await theirs.blindEvaluate(
        new EvaluationRequest(blinded.map((b) => g.desElt(b.blindedElement))),
      );
      const outs = engine.finalizeBatch(
        inputs,
        blinded,
        evaluation.evaluated.map((e) => e.serialize()),
        evaluation.proof!.serialize(),
        server.publicKey,
      );
      const expected = await Promise.all(inputs.map((x) => theirs.evaluate(x)));
      expect(outs.map(bytesToHex)).toEqual(expected.map((o) => bytesToHex(o)));
    });
  }
});
