import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'pipeline/**/*.test.ts', 'db/**/*.test.ts', 'dashboards/**/*.test.ts', 'workers/**/*.test.ts'],
    exclude: ['node_modules/**', 'test/bench/**', 'dist/**'],
    globalSetup: ['./test/helpers/build-dist.ts'],
    testTimeout: 60_000, // 60 s: service and e2e tests start real servers
    hookTimeout: 120_000, // 120 s
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
