import { describe, expect, it } from 'vitest';
import {
  defaultReputationSettings,
  effectiveBudget,
  judgeReputation,
  type LookupSample,
  type ReputationSettings,
  ReputationWindow,
} from '../../src/dp/lookup-reputation.js';
import type { Registry } from '../../src/registry/document.js';
import { LookupBudgets } from '../../src/server/lookup-budget.js';

const settings: ReputationSettings = {
  ...defaultReputationSettings,
  windowSeconds: 600,
  maxSamples: 256,
  minSamples: 40,
};

/** A deterministic spread of US numbers: area codes and line numbers far apart. */
function scattered(n: number, seed = 1): string[] {
  const areas = [212, 202, 305, 312, 415, 503, 617, 702, 718, 808];
  let x = seed;
  return Array.from({ length: n }, (_, i) => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return `tel:+1${areas[i % areas.length]}${200 + (x % 800)}${String(x % 10_000).padStart(4, '0')}`;
  });
}

const samples = (csis: string[], miss: (i: number) => boolean): LookupSample[] =>
  csis.map((csi, i) => ({ csi, miss: miss(i) }));

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => `tel:+1415555${from + i}`);

describe('R22: lookup reputation (pure, on a given clock)', () => {
  it('a sequential scan of a number range is over the threshold', () => {
    const w = new ReputationWindow(settings);
    w.add(
      samples(range(2000, 100), () => true),
      1000,
    );
    const stats = w.stats(1000);
    expect(stats).toEqual({ samples: 100, misses: 100, numbers: 100, sequential: 99 });
    const verdict = judgeReputation(stats, settings, 0, 1000);
    expect(verdict).toMatchObject({ over: true, slowed: true, slowedUntil: 1600 });
    expect(verdict.sequentialShare).toBeCloseTo(0.99);
  });

  it('a scan of scattered numbers with nothing found is over on misses alone', () => {
    const w = new ReputationWindow(settings);
    w.add(
      samples(scattered(100), () => true),
      1000,
    );
    const stats = w.stats(1000);
    expect(stats.sequential).toBe(0);
    expect(judgeReputation(stats, settings, 0, 1000)).toMatchObject({ over: true, missRatio: 1 });
  });

  it("a contact sync's mix (scattered numbers and addresses, a fifth found, repeats) is not", () => {
    const w = new ReputationWindow(settings);
    const known = scattered(10, 7);
    for (let batch = 0; batch < 5; batch++) {
      const csis = [...known, ...scattered(30, batch + 100), `mailto:friend${batch}@example.org`];
      w.add(
        samples(csis, (i) => i >= known.length),
        1000 + batch,
      );
    }
    const stats = w.stats(1010);
    const verdict = judgeReputation(stats, settings, 0, 1010);
    expect(verdict.over).toBe(false);
    expect(verdict.sequentialShare).toBeLessThan(0.1);
    expect(verdict.missRatio).toBeLessThan(0.8);
  });

  it('needs a minimum sample before any verdict', () => {
    const w = new ReputationWindow(settings);
    w.add(
      samples(range(2000, 39), () => true),
      1000,
    );
    expect(judgeReputation(w.stats(1000), settings, 0, 1000).over).toBe(false);
    w.add(
      samples(range(2039, 1), () => true),
      1000,
    );
    expect(judgeReputation(w.stats(1000), settings, 0, 1000).over).toBe(true);
  });

  it('forgets samples after the window and stays slowed a window after it was last over', () => {
    const w = new ReputationWindow(settings);
    w.add(
      samples(range(2000, 100), () => true),
      1000,
    );
    const first = judgeReputation(w.stats(1000), settings, 0, 1000);
    expect(w.stats(1600).samples).toBe(0);
    // Behaving after the scan: slowed until the hold ends, then restored.
    w.add(
      samples(scattered(50), (i) => i % 2 === 0),
      1300,
    );
    expect(judgeReputation(w.stats(1599), settings, first.slowedUntil, 1599).slowed).toBe(true);
    expect(judgeReputation(w.stats(1600), settings, first.slowedUntil, 1600)).toMatchObject({
      over: false,
      slowed: false,
    });
  });

  it('is bounded: the window keeps at most maxSamples, and the counts stay exact', () => {
    const w = new ReputationWindow(settings);
    for (let i = 0; i < 40; i++)
      w.add(
        samples(range(1000 + i * 100, 100), () => i % 2 === 0),
        1000,
      );
    const stats = w.stats(1000);
    expect(stats.samples).toBe(256);
    expect(stats.numbers).toBe(256);
    // The last 256: batch 39 (found), batch 38 (missed) and 56 of batch 37 (found).
    expect(stats.misses).toBe(100);
    expect(stats.sequential).toBeLessThanOrEqual(256);
  });

  it('counts exactly what a scan of the whole window counts, through wraps, expiry and bucket churn', () => {
    // A model that keeps every sample and looks for neighbours by scanning all of them. Small
    // ring and dense, overlapping number ranges: buckets fill, share probe runs and empty
    // again, so the table's deletions run often.
    const small: ReputationSettings = { ...settings, maxSamples: 64, windowSeconds: 50 };
    const w = new ReputationWindow(small);
    type Sample = { at: number; miss: boolean; n: number; near: boolean };
    let model: Sample[] = [];
    let x = 7;
    const rand = (m: number) => {
      x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
      return x % m;
    };
    let now = 1_000;
    for (let round = 0; round < 3_000; round++) {
      now += rand(4);
      const batch: LookupSample[] = Array.from({ length: 1 + rand(12) }, () => {
        const k = rand(10);
        const csi =
          k === 0
            ? `mailto:u${rand(50)}@example.org`
            : k < 3
              ? `tel:+1415555${String(rand(400)).padStart(4, '0')}`
              : `tel:+${[1202555, 4930, 44207946][rand(3)]}${String(rand(3_000)).padStart(4, '0')}`;
        return { csi, miss: rand(3) === 0 };
      });
      w.add(batch, now);
      model = model.filter((m) => m.at > now - small.windowSeconds);
      for (const s of batch) {
        if (model.length === small.maxSamples) model.shift();
        const n = s.csi.startsWith('tel:+') ? Number(s.csi.slice(5)) : Number.NaN;
        const near =
          !Number.isNaN(n) && model.some((m) => m.n !== n && Math.abs(m.n - n) <= small.sequentialDistance);
        model.push({ at: now, miss: s.miss, n, near });
      }
      const numbers = model.filter((m) => !Number.isNaN(m.n));
      expect(w.stats(now)).toEqual({
        samples: model.length,
        misses: model.filter((m) => m.miss).length,
        numbers: numbers.length,
        sequential: numbers.filter((m) => m.near).length,
      });
    }
  });

  it('divides a budget while slowed, never below one', () => {
    expect(effectiveBudget({ perMinute: 1000, perDay: 100_000 }, false, 10)).toEqual({
      perMinute: 1000,
      perDay: 100_000,
    });
    expect(effectiveBudget({ perMinute: 1000, perDay: 100_000 }, true, 10)).toEqual({
      perMinute: 100,
      perDay: 10_000,
    });
    expect(effectiveBudget({ perMinute: 5, perDay: 5 }, true, 10)).toEqual({ perMinute: 1, perDay: 1 });
  });
});

describe('R22: lookup budgets per MSP (memory counters, test clock)', () => {
  const registry = {
    msp: (id: string) =>
      id === 'big'
        ? { id, lookupBudget: { perMinute: 500, perDay: 1000 } }
        : id === 'gone'
          ? undefined
          : { id },
  } as unknown as Registry;

  it('charges per CSI against the tier or the default, all of a batch or none, and tells each transition once', async () => {
    let now = 1000;
    const changes: [string, boolean][] = [];
    const budgets = new LookupBudgets({
      budgets: {},
      fallback: { perMinute: 30, perDay: 1000 },
      reputation: { ...settings, slowdownFactor: 10 },
      registry: () => registry,
      now: () => now,
      onChange: (msp, slowed) => changes.push([msp, slowed]),
    });
    await budgets.charge('small', 20);
    await expect(budgets.charge('small', 11)).rejects.toMatchObject({ code: 'rate-limited' });
    await budgets.charge('small', 10); // the refused 11 were not charged
    await expect(budgets.charge('small', 1)).rejects.toMatchObject({ code: 'rate-limited' });
    await budgets.charge('big', 400);
    expect(budgets.budgetOf('big')).toEqual({ perMinute: 500, perDay: 1000 });

    budgets.observe(
      'big',
      samples(range(2000, 100), () => true),
    );
    budgets.observe(
      'big',
      samples(range(3000, 100), () => true),
    );
    expect(changes).toEqual([['big', true]]);
    expect(budgets.budgetOf('big')).toEqual({ perMinute: 50, perDay: 100 });
    await expect(budgets.charge('big', 1)).rejects.toMatchObject({ code: 'rate-limited' });
    expect(budgets.reputations()).toEqual([
      { msp: 'big', missRatio: 1, sequentialShare: expect.closeTo(0.99, 3), slowed: true },
    ]);
    now += 600;
    expect(budgets.budgetOf('big')).toEqual({ perMinute: 500, perDay: 1000 });
    expect(changes).toEqual([
      ['big', true],
      ['big', false],
    ]);
  });
});
