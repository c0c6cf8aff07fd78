import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../src/registry/document.js';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { type Context, createContext } from '../../src/server/context.js';
import { TestClock } from './clock.js';
import { DevnetParties, writeDevnetDps } from './dp-processes.js';

interface Node {
  ctx: Context;
  app: FastifyInstance;
}

/**
 * Several DPs of one devnet folder in the test process (STYLE.md §18), each with its own SQLite
 * file and listening port, all on one test clock: a scenario moves time with `clock` instead of
 * sleeping, and delivers what the outboxes hold with `settle()` instead of polling. What needs a
 * real process (kill -9, a restart) stays with DpProcesses.
 */
export class DpNodes extends DevnetParties {
  readonly clock = new TestClock();
  private readonly nodes = new Map<string, Node>();

  static async start(count: number, opts: Parameters<typeof writeDevnetDps>[1] = {}): Promise<DpNodes> {
    const net = new DpNodes(await writeDevnetDps(count, opts));
    try {
      for (const d of net.layout.dps) {
        const ctx = await createContext(loadConfig(d.configFile), { clock: net.clock });
        const app = buildApp(ctx);
        net.nodes.set(d.id, { ctx, app });
        await listen(app, ctx);
      }
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** The context of DP `id`. */
  ctx(id: string): Context {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no DP ${id}`);
    return node.ctx;
  }

  protected registry(): Registry {
    return this.ctx('dp1').registry.current();
  }

  protected now(): number {
    return this.clock.now();
  }

  protected async codeFor(csi: string): Promise<string | undefined> {
    return this.ctx('dp1').devOutbox?.latest(csi);
  }

  /**
   * Delivers everything queued in every DP's outbox (events to peers, notices to webhooks),
   * and what those deliveries queue in turn, until no outbox holds anything due.
   */
  async settle(rounds = 10): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      for (const { ctx } of this.nodes.values()) await ctx.outbox.settled();
      let queued = 0;
      for (const { ctx } of this.nodes.values()) {
        for (const n of Object.values(await ctx.store.outboxDepth())) queued += n;
      }
      if (queued === 0) return;
    }
    throw new Error(`outboxes still hold items after ${rounds} rounds`);
  }

  async close(): Promise<void> {
    for (const { ctx, app } of this.nodes.values()) {
      await app.close();
      await ctx.close();
    }
    this.nodes.clear();
    rmSync(this.layout.dir, { recursive: true, force: true });
  }
}
