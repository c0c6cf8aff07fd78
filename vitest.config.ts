import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: on a loaded 2-core machine the process-level tests take several times their usual time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The CLI tests run dist/cli/main.js: built once here, from the sources under test.
    globalSetup: ['./test/support/build-cli.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
