import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashOf, ServedArena } from '../../src/dp/served-arena.js';

/**
 * Issue 16: the served-rows cache's store of records (src/dp/served-arena.ts). What it must never
 * do: answer a key with another key's value or an older value, keep a deleted key, or hold more
 * bytes than its bound. What it should do: keep what was read since the last compaction over
 * what was not.
 */

/** Where `key`'s value starts and ends in the arena's buffer (start -1 without one), marked used. */
const find = (arena: ServedArena, key: string): { start: number; end: number } => {
  const start = new Int32Array(1);
  const end = new Int32Array(1);
  arena.findMany([key], start, end);
  return { start: start[0]!, end: end[0]! };
};

const stored = (arena: ServedArena, key: string): Uint8Array | undefined => {
  const { start, end } = find(arena, key);
  return start < 0 ? undefined : Uint8Array.from(arena.buf.subarray(start, end));
};

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill & 0xff);

describe('served arena', () => {
  it('against a Map: every key found has its latest value, no deleted key is found, the bound holds', () => {
    // Keys that share prefixes and lengths, with characters of one and of two bytes, and lone surrogates.
    const key = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map((n) => `tel:+1415555${String(n).padStart(4, '0')}`),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('mailto:é@example.org', 'mimi:\u{1f600}@x', '\ud800', 'a', ''),
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, length: fc.integer({ min: 0, max: 700 }) }),
      fc.record({ kind: fc.constant('delete' as const), key }),
      fc.record({ kind: fc.constant('find' as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 2_000, max: 40_000 }), (ops, bound) => {
        const arena = new ServedArena(bound);
        const model = new Map<string, Uint8Array>();
        ops.forEach((o, n) => {
          if (o.kind === 'set') {
            const value = bytes(o.length, n);
            arena.set(o.key, value);
            model.set(o.key, value);
          } else if (o.kind === 'delete') {
            arena.delete(o.key);
            model.delete(o.key);
          }
          const found = stored(arena, o.key);
          // Evicted is allowed (it is a cache); wrong or resurrected is not.
          if (found !== undefined) expect(found).toEqual(model.get(o.key));
          if (!model.has(o.key)) expect(found).toBeUndefined();
          expect(arena.bytes).toBeLessThanOrEqual(bound);
        });
        let present = 0;
        for (const [k, v] of model) {
          const found = stored(arena, k);
          if (found === undefined) continue;
          present++;
          expect(found).toEqual(v);
        }
        expect(arena.size).toBe(present);
      }),
    );
  });

  it('keeps everything while it fits: nothing is evicted below the bound', () => {
    const arena = new ServedArena(1 << 22);
    const keys = Array.from({ length: 5_000 }, (_, i) => `tel:+1415${String(i).padStart(7, '0')}`);
    for (const [i, k] of keys.entries()) arena.set(k, bytes(100, i));
    expect(arena.size).toBe(keys.length);
    for (const [i, k] of keys.entries()) expect(stored(arena, k)).toEqual(bytes(100, i));
    expect(arena.bytes).toBeLessThanOrEqual(1 << 22);
  });

  it('gives the records read since the last compaction a second chance over those that were not', () => {
    const arena = new ServedArena(1 << 16);
    const first = Array.from({ length: 200 }, (_, i) => `old${i}`);
    for (const k of first) arena.set(k, bytes(100, 1));
    // Half of them read: those stay when the arena has to make room.
    const read = first.filter((_, i) => i % 2 === 0);
    for (const k of read) expect(find(arena, k).start).toBeGreaterThanOrEqual(0);
    // Until the first compaction: the first set after which fewer records are held than before.
    let before: number;
    let i = 0;
    do {
      before = arena.size;
      arena.set(`new${i++}`, bytes(100, 2));
    } while (arena.size > before);
    expect(read.every((k) => stored(arena, k) !== undefined)).toBe(true);
    // Room was made from the unread ones, the oldest first.
    const unread = first.filter((_, i) => i % 2 === 1).map((k) => stored(arena, k) !== undefined);
    const gone = unread.filter((kept) => !kept).length;
    expect(gone).toBeGreaterThan(0);
    expect(unread).toEqual(unread.map((_, i) => i >= gone));
  });

  it('does not keep a record larger than its bound, and forgets the key it replaced', () => {
    const arena = new ServedArena(4_096);
    arena.set('k', bytes(10, 1));
    arena.set('k', bytes(5_000, 2));
    expect(find(arena, 'k').start).toBe(-1);
    expect(arena.bytes).toBeLessThanOrEqual(4_096);
  });

  it('does not keep a key longer than a str holds', () => {
    const arena = new ServedArena(1 << 20);
    arena.set('x'.repeat(0x8000), bytes(1, 1));
    expect(arena.size).toBe(0);
    expect(arena.fits('x'.repeat(0x8000), 1)).toBe(false);
  });

  it('hashes with a key of its own process: nobody can choose CSIs that share a probe run', () => {
    const csis = ['tel:+14155550100', 'tel:+14155550101', 'mailto:a@example.org'];
    const elsewhere = () =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            '-e',
            `import('./src/dp/served-arena.ts').then((m) => console.log(JSON.stringify(${JSON.stringify(csis)}.map(m.hashOf))))`,
          ],
          { encoding: 'utf8' },
        ),
      ) as number[];
    const here = csis.map(hashOf);
    expect(elsewhere()).not.toEqual(here);
    expect(elsewhere()).not.toEqual(here);
  });
});
