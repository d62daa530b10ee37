import { defineConfig } from 'vitest/config';

// The full conformance runs: long, one at a time, output shown as it comes.
export default defineConfig({
  test: {
    include: ['test/conformance/*/full.conformance.ts'],
    maxWorkers: 1,
    testTimeout: 3_600_000,
    hookTimeout: 60_000,
  },
});
