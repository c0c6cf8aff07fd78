import { describe, expect, it } from 'vitest';
import { time, timeAsync } from '../../bench/lib/timing.js';

describe('bench timing loop', () => {
  it('makes exactly `calls` calls, in chunks, after the warm-up calls, and counts one op a call', () => {
    let n = 0;
    const t = time(
      () => {
        n++;
      },
      { calls: 7, chunk: 3, warmupCalls: 5 },
    );
    expect(n).toBe(12);
    expect(t.calls).toBe(7);
    expect(t.ops).toBe(7);
    expect(t.perSecond).toBeCloseTo(7 / t.wallSeconds);
    expect(t.msPerOp).toBeCloseTo((t.wallSeconds * 1000) / 7);
  });

  it('counts the number a call returns as its operations', async () => {
    const t = await timeAsync(async () => 100, { calls: 4 });
    expect(t.ops).toBe(400);
    expect(t.cpuMsPerOp).toBeCloseTo((t.cpuSeconds * 1000) / 400);
    expect(time(() => 'a batch', { calls: 2 }).ops).toBe(2);
  });

  it('runs for the given seconds on the wall clock or on this process CPU time', () => {
    for (const clock of ['wall', 'cpu'] as const) {
      const t = time(() => Math.sqrt(Math.random()), { seconds: 0.05, clock, chunk: 100 });
      const spent = clock === 'cpu' ? t.cpuSeconds : t.wallSeconds;
      expect(spent).toBeGreaterThanOrEqual(0.05);
      expect(t.calls % 100).toBe(0);
      expect(t.perCpuSecond).toBeCloseTo(t.ops / t.cpuSeconds);
    }
  });

  it('refuses a budget of both seconds and calls', () => {
    expect(() => time(() => undefined, { seconds: 1, calls: 1 })).toThrow(TypeError);
  });
});
