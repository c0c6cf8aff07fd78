import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../src/dp/bounded-cache.js';

describe('BoundedCache (caches bounded in bytes)', () => {
  it('never holds more bytes than its bound, and counts what it holds', () => {
    const c = new BoundedCache<number, string>(10_000);
    for (let i = 0; i < 1_000; i++) {
      c.set(i, 'x'.repeat(200), 200);
      expect(c.bytes).toBeLessThanOrEqual(10_000);
    }
    expect(c.count).toBe(Math.floor(10_000 / (200 + 96)));
    expect(c.get(999)).toBe('x'.repeat(200));
    expect(c.get(0)).toBeUndefined();
  });

  it('spares entries used since the last eviction (CLOCK), evicting the unused oldest', () => {
    const c = new BoundedCache<string, number>(3 * (100 + 96));
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
    expect(c.bytes).toBe(300 + 96);
    c.set('big', 'y', 5_000);
    expect(c.get('big')).toBeUndefined();
    c.clear();
    expect(c.bytes).toBe(0);
    expect(c.count).toBe(0);
  });
});
