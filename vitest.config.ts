import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The CLI tests run dist/cli/main.js: built once here, from the sources under test.
    globalSetup: ['./test/support/build-cli.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
