import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JsonBytes } from '../../src/dp/json-bytes.js';
import { mappingProofText, writeMappingProof } from '../../src/dp/transparency-log.js';
import { toB64u } from '../../src/protocol/encoding.js';

describe('JsonBytes (verbose answers written as bytes, issue 16)', () => {
  it('writes base64url as toB64u does (its RFC 4648 vectors: test/protocol/base64url.test.ts), for every length', () => {
    for (let n = 0; n < 200; n++) {
      const data = randomBytes(n);
      const written = new JsonBytes(1).b64u(data).done().toString('latin1');
      expect(written).toBe(toB64u(data));
      expect(written).toBe(data.toString('base64url'));
    }
    const list = [randomBytes(32), randomBytes(1), new Uint8Array(0)];
    expect(JSON.parse(new JsonBytes(1).b64uArray(list).done().toString('latin1'))).toEqual(list.map(toB64u));
    expect(new JsonBytes(1).b64uArray([]).done().toString('latin1')).toBe('[]');
  });

  it('keeps every character of a text, growing past its first size', () => {
    const texts = ['plain', 'é', '日本', '😀', 'a"b\\c', '\u2028', 'x'.repeat(10_000)];
    const out = new JsonBytes(1);
    for (const t of texts) out.string(t).ascii(',');
    const back = JSON.parse(`[${out.done().toString('utf8').slice(0, -1)}]`) as string[];
    expect(back).toEqual(texts);
  });

  it('writes a mapping proof as the MappingLogProof JSON a client parses', () => {
    const proof = {
      checkpoint: JSON.stringify('origin\n3\nroot\n\n— sig\n'),
      leaf: randomBytes(169),
      proof: [randomBytes(32), randomBytes(32)],
    };
    const parsed = JSON.parse(mappingProofText(proof)) as Record<string, unknown>;
    expect(parsed).toEqual({
      checkpoint: 'origin\n3\nroot\n\n— sig\n',
      leaf: Buffer.from(proof.leaf).toString('base64url'),
      proof: proof.proof.map((h) => Buffer.from(h).toString('base64url')),
    });
    const empty = new JsonBytes();
    writeMappingProof(empty, { ...proof, proof: [] });
    expect((JSON.parse(empty.done().toString('utf8')) as { proof: unknown[] }).proof).toEqual([]);
  });
});
