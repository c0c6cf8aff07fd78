import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/crypto/keys.js';
import { compactBits } from '../../src/dp/lookup.js';
import { Registry, signRegistry } from '../../src/registry/document.js';
import { Federation } from '../support/federation.js';

/** R15: a compact answer's bits, one per MSP position, whatever the registry's size. */
describe('compact bits', () => {
  const fed = new Federation();
  afterAll(() => fed.close());

  /** The registry with MSPs at these bit positions (msp<bit>). */
  const registryWith = (bits: readonly number[]) =>
    Registry.open(
      signRegistry(
        {
          ...fed.unsigned,
          msps: bits.map((bit) => ({
            id: `msp${bit}`,
            domain: `m${bit}.example`,
            keys: [generateKeyPair().publicKey],
            bit,
            operator: `Op ${bit}`,
          })),
        },
        fed.registryKey.privateKey,
      ),
      fed.registryKey.publicKey,
      { now: fed.clock.now() },
    );
  /** The bits written out by hand: bit 0 is the most significant bit of byte 0. */
  const expected = (length: number, set: readonly number[]) => {
    const bytes = Buffer.alloc(Math.ceil(length / 8));
    for (const b of set) bytes[b >> 3]! |= 0x80 >> (b & 7);
    return bytes.toString('base64url');
  };
  const rows = (bits: readonly number[]) => bits.map((b) => ({ msp: `msp${b}` }));

  it('sets the bit of each served MSP, ignores unknown and null MSPs, and gives the same answer twice', () => {
    const registry = registryWith([0, 1, 2, 9]);
    for (const set of [[], [0], [1, 9], [0, 1, 2, 9], [2]]) {
      const got = compactBits(registry, [...rows(set), { msp: null }, { msp: 'gone' }]);
      expect(got).toBe(expected(10, set));
      expect(compactBits(registry, rows(set))).toBe(got);
    }
  });

  it('a registry with more than 30 positions', () => {
    const registry = registryWith([0, 5, 31, 47]);
    expect(compactBits(registry, rows([47, 0]))).toBe(expected(48, [0, 47]));
    expect(compactBits(registry, rows([31]))).toBe(expected(48, [31]));
  });

  it('a new registry document with other positions is not answered from the old one', () => {
    const a = registryWith([0, 1]);
    const b = registryWith([3, 1]);
    expect(compactBits(a, rows([1]))).toBe(expected(2, [1]));
    expect(compactBits(b, rows([3]))).toBe(expected(4, [3]));
    expect(compactBits(b, rows([1]))).toBe(expected(4, [1]));
  });
});
