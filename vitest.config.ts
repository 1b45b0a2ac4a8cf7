import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Real sockets and a real Redis: keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
  },
});
