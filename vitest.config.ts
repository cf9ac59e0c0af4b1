import { defineConfig } from 'vitest/config';

// Three tiers, each its own project so they can run alone: `static` needs no Docker,
// `smoke` and `integration` share one live stack booted by their global setup.
export default defineConfig({
  test: {
    reporters: ['default', ['junit', { outputFile: 'test-results/junit.xml' }]],
    projects: [
      {
        test: {
          name: 'static',
          include: ['tests/static/**/*.test.ts', 'images/**/*.test.ts'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'smoke',
          include: ['tests/smoke/**/*.test.ts'],
          globalSetup: ['tests/support/stack-setup.ts'],
          // One shared stack: files run one at a time, and this tier before integration,
          // whose tests restart pods.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/support/stack-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
