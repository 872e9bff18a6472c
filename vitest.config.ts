import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Each file starts real server processes; two cores run two files at a time.
    maxWorkers: 2,
    // The room's unit tests run the real logger; its JSON lines are not test output.
    onConsoleLog: (log) => !log.startsWith('{"ts":'),
  },
});
