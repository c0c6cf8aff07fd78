import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: on a loaded 2-core machine the process-level tests take several times their usual time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Worker threads started by the sources (the SDK's verify worker) load .ts through tsx.
    poolOptions: {
      forks: {
        execArgv: ['--import', fileURLToPath(new URL('./test/support/ts-workers.mjs', import.meta.url))],
      },
    },
    // Finds PostgreSQL and Redis (test/support/services.ts), then builds dist/ once for the CLI
    // tests, which run dist/bin/mimi-discovery.js.
    globalSetup: ['./test/support/services.ts', './test/support/build-cli.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
