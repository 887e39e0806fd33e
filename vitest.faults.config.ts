import { defineConfig } from 'vitest/config';

// The fault suite (`npm run test:faults`): API nodes and workers as real processes, killed with
// SIGKILL at crash points, and Redis and Postgres restarted under them. Slow by nature, so it
// runs on its own, after `npm test`, with room for process start-ups on a loaded 2-core box.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
