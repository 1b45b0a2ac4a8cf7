import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // bench/micro/*.mjs import the built dist/; under vitest (test/bench) they get the sources instead,
    // so the smoke test checks them against the code as it is now, built or not.
    alias: [{ find: /^\.\.\/\.\.\/dist\/(.*)\.js$/, replacement: `${fileURLToPath(new URL('./src/', import.meta.url))}$1.ts` }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Compiles the CLI once per run for the process tests (test/support/cli.ts buildCli).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Real sockets and a real Redis: keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
  },
});
