// Loaded with `node --import` into the node under test (bench/lib/server.ts), which is the
// deployed build (`dist/cli/main.js serve`) or the echo baseline; plain JavaScript so that the
// node runs without a TypeScript loader, as operators run it.
//   BENCH_WINDOW_PROFILE=<file prefix>: SIGUSR2 starts a CPU profile and the next SIGUSR2 writes
//     it to <prefix>-<n>.cpuprofile, so the bench profiles its measured windows alone, without
//     start-up and warm-up.
//   BENCH_MEMORY_LOG=<file>: a JSON line of the process's memory every 10 s (RSS, V8's heap by
//     space, memory outside the heap), so the bench can tell its RSS apart.
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { getHeapSpaceStatistics } from 'node:v8';

const prefix = process.env.BENCH_WINDOW_PROFILE;
if (prefix !== undefined) {
  let session;
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

const memoryLog = process.env.BENCH_MEMORY_LOG;
if (memoryLog !== undefined) {
  const mib = (n) => Math.round(n / 2 ** 20);
  setInterval(() => {
    const m = process.memoryUsage();
    const spaces = {};
    for (const s of getHeapSpaceStatistics())
      spaces[s.space_name.replace(/_space$/, '')] = [mib(s.space_used_size), mib(s.physical_space_size)];
    const line = {
      at: Date.now(),
      rss: mib(m.rss),
      heapUsed: mib(m.heapUsed),
      heapTotal: mib(m.heapTotal),
      external: mib(m.external),
      spaces,
    };
    appendFileSync(memoryLog, `${JSON.stringify(line)}\n`);
  }, 10_000).unref();
}
