import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { CliError, CliErrorCode } from './io.js';

/**
 * Ports are drawn from below Linux's default ephemeral range (32768-60999). The kernel hands out
 * ephemeral ports to every outgoing connection (to PostgreSQL, Redis, other DPs), so a port
 * freed there a moment ago, or its neighbour, can be taken before a child process binds it.
 */
const LOW = 20_000;
const HIGH = 32_768;

/**
 * Every port this process has handed out. Callers bind them later (a child process, a server
 * started after its config is written), so a port still free now may already be promised.
 */
const promised = new Set<number>();

function bind(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/**
 * The first of `count` consecutive TCP ports on 127.0.0.1 that were all free a moment ago (a
 * devnet's DPs listen on port, port + 1, ...) and that this process never handed out before. For
 * devnets, demos, tests and benchmarks.
 */
export async function freePort(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + randomInt(HIGH - LOW - count);
    const run = Array.from({ length: count }, (_, i) => base + i);
    if (run.some((p) => promised.has(p))) continue;
    const held: Server[] = [];
    try {
      for (const p of run) held.push(await bind(p));
      for (const p of run) promised.add(p);
      return base;
    } catch {
      // One of the run is taken: try another.
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  }
  throw new CliError(CliErrorCode.AddressInUse, `no run of ${count} free ports found on 127.0.0.1`);
}
