import { describe, expect, it } from 'vitest';
import { batchOrder } from '../../src/dp/batch.js';

describe('R19, R22: the order of a bulk submission', () => {
  it("one CSI's submissions run one after the other in request order; other CSIs at once", () => {
    expect(batchOrder(['a', 'b', 'a', 'a', 'c', 'b'])).toEqual([undefined, undefined, 0, 2, undefined, 1]);
  });

  it('an item that did not decode waits for nothing and nothing waits for it', () => {
    expect(batchOrder(['a', undefined, 'a', undefined])).toEqual([undefined, undefined, 0, undefined]);
    expect(batchOrder([])).toEqual([]);
  });
});
