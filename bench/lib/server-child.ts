/**
 * The server under test, run in its own process (pinned to one core by bench/lib/server.ts).
 *   baseline          a bare fastify app with one POST route echoing its JSON body
 *   devnet <config>   a real devnet node: createContext + buildApp + listen, as `serve` does
 * Prints `READY <port>` once listening; closes cleanly on SIGTERM (so --cpu-prof is written).
 * With BENCH_WINDOW_PROFILE=<file prefix>, SIGUSR2 starts a CPU profile and the next SIGUSR2
 * writes it to <prefix>-<n>.cpuprofile: the bench profiles its measured windows alone, without
 * start-up and warm-up.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { buildApp, listen } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createContext } from '../../src/server/context.js';

function profileOnSignal(prefix: string): void {
  let session: Session | undefined;
  let n = 0;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (session === undefined) {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        return;
      }
      const done = session;
      session = undefined;
      const { profile } = await done.post('Profiler.stop');
      writeFileSync(`${prefix}-${n++}.cpuprofile`, JSON.stringify(profile));
      done.disconnect();
    })();
  });
}

async function main(): Promise<void> {
  const prefix = process.env.BENCH_WINDOW_PROFILE;
  if (prefix !== undefined) profileOnSignal(prefix);
  const [mode, configFile] = process.argv.slice(2);
  let close: () => Promise<void>;
  let port: number;
  if (mode === 'baseline') {
    const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
    app.post('/echo', async (req) => req.body);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    close = () => app.close();
  } else if (mode === 'devnet' && configFile !== undefined) {
    const ctx = await createContext(loadConfig(configFile));
    const app = buildApp(ctx);
    await listen(app, ctx);
    const addr = app.server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    close = async () => {
      await app.close();
      await ctx.close();
    };
  } else {
    throw new Error('usage: server-child.ts baseline | devnet <config>');
  }
  process.once('SIGTERM', () => {
    // Keep-alive sockets of the load generator are gone by now; do not wait on stragglers.
    const timer = setTimeout(() => process.exit(0), 2000);
    close().finally(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  });
  process.stdout.write(`READY ${port}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
