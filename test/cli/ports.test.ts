import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/cli/ports.js';

const bind = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });

describe('freePort: runs of free loopback ports for devnets', () => {
  it('returns the first of a run that can all be bound, below the ephemeral range', async () => {
    const base = await freePort(3);
    expect(base).toBeGreaterThanOrEqual(20_000);
    expect(base + 2).toBeLessThan(32_768);
    const held = await Promise.all([0, 1, 2].map((i) => bind(base + i)));
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  });

  it('never hands out a port twice in one process, though the first caller has not bound it yet', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const base = await freePort(4);
      for (let p = base; p < base + 4; p++) {
        expect(seen.has(p)).toBe(false);
        seen.add(p);
      }
    }
  });

  it('never returns a run overlapping a port that is taken', async () => {
    const base = await freePort(1);
    const taken = await bind(base);
    try {
      for (let i = 0; i < 50; i++) {
        const run = await freePort(4);
        expect(base < run || base > run + 3).toBe(true);
      }
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
