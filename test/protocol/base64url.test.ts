import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, toB64u } from '../../src/protocol/encoding.js';
import { thrownCode } from '../support/errors.js';

/** RFC 4648 §5 base64url without padding, strict on input: against Node's own codec. */
describe('base64url', () => {
  it('encodes as Node does, and decodes back, at every length', () => {
    for (let n = 0; n < 200; n++) {
      const bytes = randomBytes(n);
      const text = toB64u(bytes);
      expect(text).toBe(bytes.toString('base64url'));
      expect(Buffer.from(fromB64u(text, 'x', n))).toEqual(bytes);
    }
    const long = randomBytes(100_000);
    expect(toB64u(long)).toBe(long.toString('base64url'));
    expect(Buffer.from(fromB64u(long.toString('base64url'), 'x'))).toEqual(long);
  });

  it('RFC 4648 §10 vectors (base64url spelling, no padding)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, text] of vectors) {
      expect(toB64u(new TextEncoder().encode(plain))).toBe(text);
      expect(new TextDecoder().decode(fromB64u(text, 'x'))).toBe(plain);
    }
    expect(toB64u(Uint8Array.from([0xfb, 0xff]))).toBe('-_8');
  });

  it('refuses padding, other alphabets, stray low bits, a lone last character and a wrong length', () => {
    for (const bad of ['Zg==', 'Zm9v+', 'ab/c', 'Zh', 'Zm9', 'Zm-', 'A', 'AAAAA', 'é', 'Zm9\u0100', ' Zm9v'])
      expect(thrownCode(() => fromB64u(bad, 'x'))).toBe('record-invalid');
    expect(thrownCode(() => fromB64u('Zm9v', 'x', 4))).toBe('record-invalid');
  });

  it('accepts exactly the canonical spellings Node would write', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/), (text) => {
        const canonical =
          text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
        let decoded: Uint8Array | undefined;
        try {
          decoded = fromB64u(text, 'x');
        } catch {
          decoded = undefined;
        }
        expect(decoded !== undefined).toBe(canonical);
        if (decoded !== undefined) expect(Buffer.from(decoded).toString('base64url')).toBe(text);
      }),
      { numRuns: 3000 },
    );
  });
});
