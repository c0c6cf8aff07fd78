import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: on a loaded 2-core machine the process-level tests take several times their usual time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Finds PostgreSQL and Redis (test/support/services.ts), then builds dist/ once for the CLI
    // tests, which run dist/cli/main.js.
    globalSetup: ['./test/support/services.ts', './test/support/build-cli.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
