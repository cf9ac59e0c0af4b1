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
        },
      },
      {
        test: {
          name: 'smoke',
          include: ['tests/smoke/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
        },
      },
    ],
  },
});
