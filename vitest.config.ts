import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // every test file boots its own CPU threads; one file at a time keeps the 2-core CI machine
    // from running three machines' worth of threads at once
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
