import { readFileSync } from 'node:fs';
import { ristretto255, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { blind, blindBatch, finalize, finalizeBatch } from '../../src/crypto/oprf-client.js';
import { OPRF_ERROR_CODES, OprfError, type OprfErrorCode } from '../../src/crypto/oprf-errors.js';
import {
  createOprfServer,
  deriveKeyPair,
  generateKeyPair,
  type OprfServer,
  ready,
} from '../../src/crypto/oprf-server.js';
import {
  CONTEXT_STRING,
  DEFAULT_MAX_BATCH_SIZE,
  GROUP_ORDER,
  HASH_TO_GROUP_DST,
  MAX_INPUT_LENGTH,
  type RandomSource,
  randomScalar,
} from '../../src/crypto/oprf-suite.js';

interface VectorFile {
  source: string;
  hashToGroupDST: string;
  seed: string;
  keyInfo: string;
  skSm: string;
  pkSm: string;
  vectors: {
    name: string;
    batch: number;
    input: string[];
    blind: string[];
    blindedElement: string[];
    evaluationElement: string[];
    proof: string;
    proofRandomScalar: string;
    output: string[];
  }[];
}

const file: VectorFile = JSON.parse(
  readFileSync(new URL('../vectors/rfc9497-voprf.json', import.meta.url), 'utf8'),
) as VectorFile;

/** A random source that replays fixed byte strings, in order. */
function replay(values: Uint8Array[]): RandomSource {
  let i = 0;
  return (n) => {
    const v = values[i++];
    if (v === undefined || v.length !== n) throw new Error('replay source exhausted or wrong size');
    return v;
  };
}

function hexList(list: string[]): Uint8Array[] {
  return list.map((h) => hexToBytes(h));
}

function codeOf(fn: () => unknown): OprfErrorCode | 'no-error' | 'other' {
  try {
    fn();
    return 'no-error';
  } catch (err) {
    return err instanceof OprfError ? err.code : 'other';
  }
}

const IDENTITY = new Uint8Array(32);
// L, little-endian: a non-reduced scalar.
const ORDER_LE = hexToBytes('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
const VALID_BLIND = hexToBytes(file.vectors[0]!.blind[0]!);
const VALID_ELEMENT = hexToBytes(file.vectors[0]!.evaluationElement[0]!);
/** Test Vector 1 as client state: its blind and blinded element, its proof, the vectors' key. */
const VALID_BLINDED = { blind: VALID_BLIND, blindedElement: hexToBytes(file.vectors[0]!.blindedElement[0]!) };
const VALID_PROOF = hexToBytes(file.vectors[0]!.proof);
const PK = hexToBytes(file.pkSm);
/** Finalize of Test Vector 1's client state with a given evaluated element (and the vector's proof). */
const finalizeWith = (input: Uint8Array, element: Uint8Array, blindBytes: Uint8Array = VALID_BLIND) =>
  finalize(input, { ...VALID_BLINDED, blind: blindBytes }, element, VALID_PROOF, PK);

/**
 * Bad element encodings, each with the code both sides must report.
 * The field-encoding cases follow RFC 9496 §4.3.1 Decode (non-canonical s, negative s, non-square).
 */
const BAD_ELEMENTS: { name: string; bytes: Uint8Array; code: OprfErrorCode }[] = [
  { name: 'identity (32 zero bytes)', bytes: IDENTITY, code: 'oprf-identity-element' },
  {
    // p is the non-canonical encoding of s = 0, i.e. of the identity: still 'invalid', not 'identity'.
    name: 'non-canonical field element s = p',
    bytes: hexToBytes('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
    code: 'oprf-invalid-element',
  },
  {
    name: 'non-canonical field element s = 2^255 - 1',
    bytes: hexToBytes('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
    code: 'oprf-invalid-element',
  },
  {
    name: 'high bit set',
    bytes: hexToBytes('0000000000000000000000000000000000000000000000000000000000000080'),
    code: 'oprf-invalid-element',
  },
  {
    name: 'negative field element s = 1',
    bytes: hexToBytes('0100000000000000000000000000000000000000000000000000000000000000'),
    code: 'oprf-invalid-element',
  },
  // The next three are from the bad-encoding list of RFC 9496 Appendix A.2.
  {
    name: 'non-canonical field element s = p + 6',
    bytes: hexToBytes('f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
    code: 'oprf-invalid-element',
  },
  {
    name: 'non-square x^2 (off-curve)',
    bytes: hexToBytes('26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371'),
    code: 'oprf-invalid-element',
  },
  {
    name: 'negative xy',
    bytes: hexToBytes('3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e'),
    code: 'oprf-invalid-element',
  },
  { name: 'truncated (31 bytes)', bytes: VALID_ELEMENT.slice(0, 31), code: 'oprf-invalid-element' },
  {
    name: 'extended (33 bytes)',
    bytes: Uint8Array.from([...VALID_ELEMENT, 0]),
    code: 'oprf-invalid-element',
  },
  { name: 'empty', bytes: new Uint8Array(0), code: 'oprf-invalid-element' },
];

/** Deterministically finds an even, canonical, top-bit-clear s that is not a valid ristretto255 encoding (off-curve). */
function findOffCurveEncoding(): Uint8Array {
  for (let i = 1; ; i++) {
    const s = BigInt(i) * 2n;
    const bytes = hexToBytes(s.toString(16).padStart(64, '0')).reverse();
    try {
      ristretto255.Point.fromBytes(bytes);
    } catch {
      return bytes;
    }
  }
}

let server: OprfServer;

beforeAll(async () => {
  await ready();
  server = await createOprfServer(hexToBytes(file.skSm));
});

describe('RFC 9497 suite constants', () => {
  it('contextString and HashToGroup DST match the vector file', () => {
    expect(new TextDecoder().decode(CONTEXT_STRING)).toBe('OPRFV1-\u0001-ristretto255-SHA512');
    expect(bytesToHex(HASH_TO_GROUP_DST)).toBe(file.hashToGroupDST);
  });

  it('exposes every documented error code', () => {
    expect([...OPRF_ERROR_CODES].sort()).toEqual(
      [
        'oprf-batch-too-large',
        'oprf-identity-element',
        'oprf-invalid-element',
        'oprf-invalid-input',
        'oprf-invalid-scalar',
        'oprf-proof-invalid',
      ].sort(),
    );
  });
});

describe('RFC 9497 Appendix A.1.2 vectors (ristretto255-SHA512, VOPRF mode)', () => {
  it('records its source', () => {
    expect(file.source).toMatch(/RFC 9497/);
  });

  it('DeriveKeyPair(Seed, KeyInfo) gives skSm and pkSm (§3.2.1)', () => {
    const kp = deriveKeyPair(hexToBytes(file.seed), hexToBytes(file.keyInfo));
    expect(bytesToHex(kp.secretKey)).toBe(file.skSm);
    expect(bytesToHex(kp.publicKey)).toBe(file.pkSm);
    expect(bytesToHex(server.publicKey)).toBe(file.pkSm);
    // Independent check against @noble/curves' own RFC 9497 implementation.
    const noble = ristretto255_oprf.voprf.deriveKeyPair(hexToBytes(file.seed), hexToBytes(file.keyInfo));
    expect(bytesToHex(noble.secretKey)).toBe(file.skSm);
  });

  for (const v of file.vectors) {
    it(`${v.name}: Blind, BlindEvaluate with its proof, Finalize, Evaluate`, () => {
      const inputs = hexList(v.input);
      const blinded = blindBatch(inputs, replay(hexList(v.blind)));
      expect(blinded.map((b) => bytesToHex(b.blind))).toEqual(v.blind);
      expect(blinded.map((b) => bytesToHex(b.blindedElement))).toEqual(v.blindedElement);

      const answer = server.blindEvaluate(
        blinded.map((b) => b.blindedElement),
        replay([hexToBytes(v.proofRandomScalar)]),
      );
      expect(answer.evaluated.map((e) => bytesToHex(e))).toEqual(v.evaluationElement);
      expect(bytesToHex(answer.proof)).toBe(v.proof);

      const outputs = finalizeBatch(inputs, blinded, answer.evaluated, answer.proof, server.publicKey);
      expect(outputs.map((o) => bytesToHex(o))).toEqual(v.output);
      if (v.batch === 1) {
        const one = finalize(inputs[0]!, blinded[0]!, answer.evaluated[0]!, answer.proof, PK);
        expect(bytesToHex(one)).toBe(v.output[0]);
      }
      expect(inputs.map((i) => bytesToHex(server.evaluate(i)))).toEqual(v.output);
    });
  }
});

describe('libsodium server vs @noble/curves client', () => {
  it('agree on 100 random inputs and keys (and match noble ristretto255_oprf.voprf)', async () => {
    for (let i = 0; i < 100; i++) {
      const kp = generateKeyPair();
      const srv = await createOprfServer(kp.secretKey);
      const input = randomBytes(i % 97);
      const b = blind(input);
      const { evaluated, proof } = srv.blindEvaluate([b.blindedElement]);
      const noble = ristretto255_oprf.voprf.blindEvaluate(kp.secretKey, kp.publicKey, b.blindedElement);
      expect(bytesToHex(evaluated[0]!)).toBe(bytesToHex(noble.evaluated));
      const output = finalize(input, b, evaluated[0]!, proof, kp.publicKey);
      expect(bytesToHex(output)).toBe(bytesToHex(srv.evaluate(input)));
      // noble verifies our proof, and we verify noble's.
      expect(
        bytesToHex(
          ristretto255_oprf.voprf.finalize(
            input,
            b.blind,
            evaluated[0]!,
            b.blindedElement,
            kp.publicKey,
            proof,
          ),
        ),
      ).toBe(bytesToHex(output));
      expect(bytesToHex(finalize(input, b, noble.evaluated, noble.proof, kp.publicKey))).toBe(
        bytesToHex(output),
      );
    }
  });

  it('agree on a random batch of 50', async () => {
    const kp = generateKeyPair();
    const srv = await createOprfServer(kp.secretKey);
    const inputs = Array.from({ length: 50 }, (_, i) => randomBytes(i));
    const blinded = blindBatch(inputs);
    const { evaluated, proof } = srv.blindEvaluate(blinded.map((b) => b.blindedElement));
    const outputs = finalizeBatch(inputs, blinded, evaluated, proof, kp.publicKey);
    expect(outputs.map((o) => bytesToHex(o))).toEqual(inputs.map((x) => bytesToHex(srv.evaluate(x))));
  });

  it('agree on which random 32-byte strings are valid elements', () => {
    // A valid element passes deserialization and then fails the proof (it was not evaluated).
    const client = (bytes: Uint8Array) => {
      const c = codeOf(() => finalizeWith(new Uint8Array(0), bytes));
      return c === 'oprf-proof-invalid' ? 'no-error' : c;
    };
    const srv = (bytes: Uint8Array) => codeOf(() => server.blindEvaluate([bytes]));
    let accepted = 0;
    for (let i = 0; i < 1000; i++) {
      const bytes = randomBytes(32);
      if (i % 2 === 0) bytes[31]! &= 0x7f;
      if (i % 4 === 0) bytes[0]! &= 0xfe;
      const c = client(bytes);
      expect(srv(bytes)).toBe(c);
      if (c === 'no-error') accepted++;
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('element validation (RFC 9497 §2.1 DeserializeElement)', () => {
  const offCurve = findOffCurveEncoding();
  const cases = [
    ...BAD_ELEMENTS,
    { name: 'off-curve (non-square) encoding', bytes: offCurve, code: 'oprf-invalid-element' as const },
  ];

  for (const c of cases) {
    it(`server BlindEvaluate rejects ${c.name} with ${c.code}`, () => {
      expect(codeOf(() => server.blindEvaluate([c.bytes]))).toBe(c.code);
    });

    it(`client Finalize rejects ${c.name} with ${c.code}`, () => {
      expect(codeOf(() => finalizeWith(new Uint8Array([1]), c.bytes))).toBe(c.code);
    });
  }

  it('server reports the index of the bad element and evaluates nothing', () => {
    try {
      server.blindEvaluate([VALID_ELEMENT, VALID_ELEMENT, IDENTITY]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OprfError);
      expect((err as OprfError).code).toBe('oprf-identity-element');
      expect((err as OprfError).index).toBe(2);
    }
  });

  it('client batch finalize reports the index of the bad element', () => {
    const inputs = [new Uint8Array([1]), new Uint8Array([2])];
    try {
      finalizeBatch(inputs, [VALID_BLINDED, VALID_BLINDED], [VALID_ELEMENT, offCurve], VALID_PROOF, PK);
      expect.unreachable();
    } catch (err) {
      expect((err as OprfError).code).toBe('oprf-invalid-element');
      expect((err as OprfError).index).toBe(1);
    }
  });

  it('client batch finalize rejects a response with the wrong element count', () => {
    const inputs = [new Uint8Array([1]), new Uint8Array([2])];
    expect(
      codeOf(() => finalizeBatch(inputs, [VALID_BLINDED, VALID_BLINDED], [VALID_ELEMENT], VALID_PROOF, PK)),
    ).toBe('oprf-invalid-element');
  });
});

describe('batch limits', () => {
  it('rejects batches above the default limit', () => {
    const batch = Array.from({ length: DEFAULT_MAX_BATCH_SIZE + 1 }, () => VALID_ELEMENT);
    expect(codeOf(() => server.blindEvaluate(batch))).toBe('oprf-batch-too-large');
    expect(server.blindEvaluate(batch.slice(0, 3)).evaluated).toHaveLength(3);
  });

  it('honours a configured limit', async () => {
    const small = await createOprfServer(hexToBytes(file.skSm), { maxBatchSize: 2 });
    expect(small.maxBatchSize).toBe(2);
    expect(small.blindEvaluate([VALID_ELEMENT, VALID_ELEMENT]).evaluated).toHaveLength(2);
    expect(codeOf(() => small.blindEvaluate([VALID_ELEMENT, VALID_ELEMENT, VALID_ELEMENT]))).toBe(
      'oprf-batch-too-large',
    );
  });

  it('refuses an empty batch (a proof covers at least one element)', () => {
    expect(() => server.blindEvaluate([])).toThrow(TypeError);
  });
});

describe('inputs and scalars', () => {
  it(`accepts inputs up to ${MAX_INPUT_LENGTH} bytes and rejects longer ones with oprf-invalid-input`, () => {
    const max = new Uint8Array(MAX_INPUT_LENGTH).fill(7);
    const b = blind(max);
    const { evaluated, proof } = server.blindEvaluate([b.blindedElement]);
    expect(bytesToHex(finalize(max, b, evaluated[0]!, proof, PK))).toBe(bytesToHex(server.evaluate(max)));

    const tooLong = new Uint8Array(MAX_INPUT_LENGTH + 1);
    expect(codeOf(() => blind(tooLong))).toBe('oprf-invalid-input');
    expect(codeOf(() => server.evaluate(tooLong))).toBe('oprf-invalid-input');
    expect(codeOf(() => finalizeWith(tooLong, VALID_ELEMENT))).toBe('oprf-invalid-input');
  });

  it('rejects zero and non-reduced secret keys with oprf-invalid-scalar', async () => {
    await expect(createOprfServer(new Uint8Array(32))).rejects.toMatchObject({ code: 'oprf-invalid-scalar' });
    await expect(createOprfServer(ORDER_LE)).rejects.toMatchObject({ code: 'oprf-invalid-scalar' });
  });

  it('rejects zero and non-reduced blinds in Finalize with oprf-invalid-scalar', () => {
    expect(codeOf(() => finalizeWith(new Uint8Array(1), VALID_ELEMENT, new Uint8Array(32)))).toBe(
      'oprf-invalid-scalar',
    );
    expect(codeOf(() => finalizeWith(new Uint8Array(1), VALID_ELEMENT, ORDER_LE))).toBe(
      'oprf-invalid-scalar',
    );
  });

  it('throws TypeError on API misuse', async () => {
    await expect(createOprfServer(new Uint8Array(31))).rejects.toBeInstanceOf(TypeError);
    await expect(createOprfServer(hexToBytes(file.skSm), { maxBatchSize: 0 })).rejects.toBeInstanceOf(
      TypeError,
    );
    expect(() => deriveKeyPair(new Uint8Array(31), new Uint8Array(0))).toThrow(TypeError);
    expect(() => blind('abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => server.evaluate([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => server.blindEvaluate(VALID_ELEMENT as unknown as Uint8Array[])).toThrow(TypeError);
    expect(() => server.blindEvaluate(['x' as unknown as Uint8Array])).toThrow(TypeError);
    expect(() => finalizeWith(new Uint8Array(1), VALID_ELEMENT, new Uint8Array(31))).toThrow(TypeError);
    expect(() => finalizeBatch([new Uint8Array(1)], [], [], VALID_PROOF, PK)).toThrow(TypeError);
  });

  it('RandomScalar draws canonical non-zero scalars and rejects a broken source', () => {
    for (let i = 0; i < 200; i++) {
      const s = BigInt(`0x${bytesToHex(randomScalar().reverse())}`);
      expect(s > 0n && s < GROUP_ORDER).toBe(true);
    }
    // Rejection sampling: an all-0xff draw is rejected, the next one accepted.
    const ff = new Uint8Array(32).fill(0xff);
    expect(bytesToHex(randomScalar(replay([ff, VALID_BLIND])))).toBe(bytesToHex(VALID_BLIND));
    expect(() => randomScalar(() => new Uint8Array(32))).toThrow(TypeError);
    expect(() => randomScalar(() => new Uint8Array(16))).toThrow(TypeError);
    // Reproducible key generation from an injected source.
    const kp = generateKeyPair(replay([hexToBytes(file.skSm)]));
    expect(bytesToHex(kp.secretKey)).toBe(file.skSm);
    expect(bytesToHex(kp.publicKey)).toBe(bytesToHex(server.publicKey));
  });

  it('server does not alias the caller key buffer', async () => {
    const key = hexToBytes(file.skSm);
    const srv = await createOprfServer(key);
    const before = bytesToHex(srv.evaluate(new Uint8Array([1])));
    key.fill(0);
    expect(bytesToHex(srv.evaluate(new Uint8Array([1])))).toBe(before);
  });
});

describe('property: garbage never throws anything but OprfError', () => {
  const isOprfOrOk = (fn: () => unknown): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      return err instanceof OprfError;
    }
  };

  it('server BlindEvaluate on arbitrary byte strings', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 5 }),
        (batch) => isOprfOrOk(() => server.blindEvaluate(batch)),
      ),
      { numRuns: 300 },
    );
  });

  it('server BlindEvaluate on 32-byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) =>
        isOprfOrOk(() => server.blindEvaluate([bytes])),
      ),
      { numRuns: 300 },
    );
  });

  it('client Finalize / FinalizeBatch on arbitrary responses', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { maxLength: 3 }),
        (input, element, batch) =>
          isOprfOrOk(() => finalizeWith(input, element)) &&
          isOprfOrOk(() =>
            finalizeBatch([input, input], [VALID_BLINDED, VALID_BLINDED], batch, VALID_PROOF, PK),
          ),
      ),
      { numRuns: 200 },
    );
  });

  it('client Finalize with arbitrary 32-byte blinds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (blindBytes) =>
        isOprfOrOk(() => finalizeWith(new Uint8Array(1), VALID_ELEMENT, blindBytes)),
      ),
      { numRuns: 200 },
    );
  });

  it('server Evaluate and client Blind on arbitrary inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        const out = server.evaluate(input);
        return out.length === 64 && isOprfOrOk(() => blind(input));
      }),
      { numRuns: 200 },
    );
  });

  it('every thrown OprfError carries a documented code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (bytes) => {
        const c = codeOf(() => server.blindEvaluate([bytes]));
        return c === 'no-error' || (OPRF_ERROR_CODES as readonly string[]).includes(c);
      }),
      { numRuns: 200 },
    );
  });
});
