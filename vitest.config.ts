import { defineConfig } from 'vitest/config';

// Six projects, one per part, each runnable alone (`npm run test:<name>`):
//   static       the product and the harness without Docker (renders, policies, secrets, the fake's protocol)
//   images       the image factory: recipes, locks, and each image run on its own (needs Docker, no stack)
//   smoke        the dev stack as deployed: rollout, live objects, probes, run-time security
//   integration  the dev stack in use: LiteLLM, Open WebUI, NetworkPolicy, the port-forward, a browser
//   production   overlays/production-selfhosted on a node of its own: replicas, Postgres, Redis, PDBs
//   mirror       upstream mode behind a registry mirror (npm run test:mirror sets it up)
// smoke and integration share one stack booted by their global setup; every global setup runs
// before any test, so the stacks are up while static and images run.
export default defineConfig({
  test: {
    reporters: ['default', 'junit'],
    // npm test (tests/run.ts) gives each of its two runs its own file with --outputFile.junit.
    outputFile: { junit: 'test-results/junit.xml' },
    projects: [
      {
        test: {
          name: 'static',
          include: ['tests/static/**/*.test.ts'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'images',
          include: ['images/**/*.test.ts'],
          globalSetup: ['images/setup.ts'],
          // Each file starts its own containers; one at a time on a 2-core machine.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
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
          sequence: { groupOrder: 2 },
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
          sequence: { groupOrder: 3 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          // npm run test:mirror only (tests/mirror-run.ts): the dev stack in upstream mode behind a
          // local registry mirror, beside the smoke project on the same stack.
          name: 'mirror',
          include: ['tests/mirror/**/*.test.ts'],
          globalSetup: ['tests/support/stack-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 3 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'production',
          include: ['tests/production/**/*.test.ts'],
          globalSetup: ['tests/support/production-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 4 },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
