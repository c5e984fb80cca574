import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal SDK's native bridge needs real processes, not worker threads.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    // One real Temporal dev server for the whole run; its address is provided to every file.
    globalSetup: ['test/setup/postgres.ts', 'test/setup/temporal.ts'],
    setupFiles: ['test/setup/quietRuntime.ts'],
    reporters: ['default', './test/setup/countReporter.ts'],
    // The first start may build the Temporal CLI; bundling workflow code takes seconds.
    hookTimeout: 120_000,
    testTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
