import { describe, expect, it } from 'vitest';
import { mergeFederated, mergeServed, planLookup, type ServedMapping } from '../../src/dp/merge.js';

// The federated answer's decisions alone: no node, no peer, no store.
const row = (id: string, holderKey: string, over: Partial<ServedMapping> = {}): ServedMapping => ({
  id,
  json: `{"id":"${id}"}`,
  holderKey,
  msp: 'msp1',
  tag: 'Default',
  priority: 0,
  acceptedAt: 100,
  level: 'otp',
  optOut: false,
  dps: [],
  ...over,
});
const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id);

describe('R10, R11, R12: how a lookup is served', () => {
  it('R11: what the caller leaves out follows the federation default (verbose, preferred DPs)', () => {
    expect(planLookup({}, true)).toEqual({
      format: 'verbose',
      federated: true,
      dpList: 'preferred',
      nonDefault: false,
    });
    expect(planLookup({}, false)).toEqual({
      format: 'verbose',
      federated: false,
      dpList: 'preferred',
      nonDefault: false,
    });
    expect(planLookup({ format: 'compact', federation: false }, true)).toMatchObject({
      format: 'compact',
      federated: false,
    });
  });

  it('R12: a federated lookup against a local default, or to other DPs than the preferred, is non-default', () => {
    expect(planLookup({ federation: true }, false).nonDefault).toBe(true);
    expect(planLookup({ dpList: 'all' }, true).nonDefault).toBe(true);
    expect(planLookup({ dpList: ['dp2'] }, true).nonDefault).toBe(true);
    expect(planLookup({ federation: true, dpList: 'preferred' }, true).nonDefault).toBe(false);
    // A local lookup costs only the ordinary budget, whatever the default.
    expect(planLookup({ federation: false, dpList: 'all' }, true).nonDefault).toBe(false);
  });
});

describe('R15, R17: merging what several DPs serve for one CSI', () => {
  it('R15: each mapping once, with every DP that returned it, its proof kept from whoever had one', () => {
    const merged = mergeServed([
      { dp: 'dp1', rows: [row('a', 'bob', { dps: ['dp1'] })] },
      { dp: 'dp2', rows: [row('a', 'bob', { log: '{"p":1}' }), row('b', 'bob', { tag: 'x' })] },
      { dp: 'dp3', rows: [row('a', 'bob', { dps: ['dp2'] })] },
    ]);
    expect(merged.map((r) => [r.id, r.dps, r.log])).toEqual([
      ['a', ['dp1', 'dp2', 'dp3'], '{"p":1}'],
      ['b', ['dp2'], undefined],
    ]);
  });

  it('R17: between holders the stricter proof wins, then the older holder; never two holders', () => {
    const bob = row('a', 'bob', { acceptedAt: 100 });
    const eve = row('e', 'eve', { acceptedAt: 50 });
    expect(
      ids(
        mergeServed([
          { dp: 'dp1', rows: [bob] },
          { dp: 'dp2', rows: [eve] },
        ]),
      ),
    ).toEqual(['e']);
    const carol = row('c', 'carol', { acceptedAt: 200, level: 'csip' });
    expect(
      ids(
        mergeServed([
          { dp: 'dp1', rows: [bob] },
          { dp: 'dp2', rows: [eve] },
          { dp: 'dp3', rows: [carol] },
        ]),
      ),
    ).toEqual(['c']);
  });

  it('R17: in the same second the smaller mapping id is the older; DPs sharing a holder key serve one holder', () => {
    const bob = row('m', 'bob', { acceptedAt: 100 });
    const eve = row('b', 'eve', { acceptedAt: 100 });
    expect(
      ids(
        mergeServed([
          { dp: 'dp1', rows: [bob] },
          { dp: 'dp2', rows: [eve] },
        ]),
      ),
    ).toEqual(['b']);
    // dp2 serves bob's rotated key beside his old one: the same holder as dp1's.
    const rotated = row('r', 'bob2', { acceptedAt: 300 });
    const merged = mergeServed([
      { dp: 'dp1', rows: [row('z', 'bob', { acceptedAt: 10 })] },
      { dp: 'dp2', rows: [row('y', 'bob', { acceptedAt: 10 }), rotated] },
      { dp: 'dp3', rows: [row('q', 'eve', { acceptedAt: 20 })] },
    ]);
    expect(ids(merged)).toEqual(['z', 'y', 'r']);
  });

  it("R14, R15: per query its own rows (named by this DP) and the peers', then status and MSP filter", () => {
    const results = mergeFederated({
      self: 'dp1',
      queries: ['tel:+1 415 555 0199', 'tel:+14155550199', 'tel:+14155550100'],
      csis: ['tel:+14155550199', 'tel:+14155550199', 'tel:+14155550100'],
      unique: ['tel:+14155550199', 'tel:+14155550100'],
      local: new Map([['tel:+14155550199', [row('a', 'bob', { msp: 'msp1' })]]]),
      peers: [[{ dp: 'dp2', rows: [row('a', 'bob'), row('b', 'bob', { msp: 'msp2', tag: 'x' })] }], []],
      mspFilter: ['msp1', 'msp2'],
    });
    expect(results.map((r) => [r.query, r.csi, r.status, ids(r.rows)])).toEqual([
      ['tel:+1 415 555 0199', 'tel:+14155550199', 'several', ['a', 'b']],
      ['tel:+14155550199', 'tel:+14155550199', 'several', ['a', 'b']],
      ['tel:+14155550100', 'tel:+14155550100', 'none', []],
    ]);
    expect(results[0]!.rows[0]!.dps).toEqual(['dp1', 'dp2']);
    const filtered = mergeFederated({
      self: 'dp1',
      queries: ['q'],
      csis: ['tel:+14155550199'],
      unique: ['tel:+14155550199'],
      local: new Map([['tel:+14155550199', [row('a', 'bob')]]]),
      peers: [[]],
      mspFilter: ['msp2'],
    });
    expect(filtered[0]).toMatchObject({ status: 'none', rows: [] });
  });

  it("R14: a holder's opt-out answers opt-out whatever the filter", () => {
    const [r] = mergeFederated({
      self: 'dp1',
      queries: ['q'],
      csis: ['c'],
      unique: ['c'],
      local: new Map(),
      peers: [[{ dp: 'dp2', rows: [row('o', 'bob', { msp: null, optOut: true })] }]],
      mspFilter: ['msp1'],
    });
    expect(r).toMatchObject({ status: 'opt-out', rows: [{ id: 'o', dps: ['dp2'] }] });
  });
});
