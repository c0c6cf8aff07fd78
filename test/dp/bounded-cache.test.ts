import { describe, expect, it } from 'vitest';
import { BoundedCache, ENTRY_OVERHEAD } from '../../src/dp/bounded-cache.js';

describe('BoundedCache (caches bounded in bytes)', () => {
  it('never holds more bytes than its bound, and counts what it holds', () => {
    const c = new BoundedCache<number, string>(10_000);
    for (let i = 0; i < 1_000; i++) {
      c.set(i, 'x'.repeat(200), 200);
      expect(c.bytes).toBeLessThanOrEqual(10_000);
    }
    expect(c.count).toBe(Math.floor(10_000 / (200 + ENTRY_OVERHEAD)));
    expect(c.get(999)).toBe('x'.repeat(200));
    expect(c.get(0)).toBeUndefined();
  });

  it('spares entries used since the last eviction (CLOCK), evicting the unused oldest', () => {
    const c = new BoundedCache<string, number>(3 * (100 + ENTRY_OVERHEAD));
    c.set('a', 1, 100);
    c.set('b', 2, 100);
    c.set('c', 3, 100);
    expect(c.get('a')).toBe(1);
    c.set('d', 4, 100);
    expect(c.get('a')).toBe(1);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('d')).toBe(4);
  });

  it('replaces a key in place, keeps nothing larger than itself, and clears to zero', () => {
    const c = new BoundedCache<string, string>(1_000);
    c.set('k', 'one', 100);
    c.set('k', 'two', 300);
    expect(c.get('k')).toBe('two');
    expect(c.bytes).toBe(300 + ENTRY_OVERHEAD);
    c.set('big', 'y', 5_000);
    expect(c.get('big')).toBeUndefined();
    c.clear();
    expect(c.bytes).toBe(0);
    expect(c.count).toBe(0);
  });

  it('under any sequence of sets, gets and deletes: within its bound, counting exactly what it holds, never a wrong value', () => {
    // A seeded generator, so that a failure repeats.
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const max = 20 * (50 + ENTRY_OVERHEAD);
    const c = new BoundedCache<string, string>(max);
    const last = new Map<string, { value: string; cost: number }>();
    for (let op = 0; op < 20_000; op++) {
      const key = `k${next(60)}`;
      const kind = next(10);
      if (kind < 5) {
        const value = `${key}:${op}`;
        const bytes = 10 + next(80);
        c.set(key, value, bytes);
        last.set(key, { value, cost: bytes + ENTRY_OVERHEAD });
        expect(c.get(key)).toBe(value);
      } else if (kind < 9) {
        const got = c.get(key);
        if (got !== undefined) expect(got).toBe(last.get(key)!.value);
      } else {
        c.delete(key);
        expect(c.get(key)).toBeUndefined();
      }
      expect(c.bytes).toBeLessThanOrEqual(max);
    }
    // What it counts is the sum of what it holds: nothing leaked by replacements, deletes or evictions.
    let held = 0;
    let count = 0;
    for (const [key, { cost }] of last) {
      if (c.get(key) === undefined) continue;
      held += cost;
      count++;
    }
    expect(c.count).toBe(count);
    expect(c.bytes).toBe(held);
    c.clear();
    expect(c.bytes).toBe(0);
  });
});
