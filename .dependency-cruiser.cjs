// The harness's layers, each importing only those below it (checked by tests/static/layers.test.ts):
//   lib/      the shared library: Docker, the Kubernetes client helpers, kustomize, secrets, TLS, waiting
//   images/   the image factory, on lib/ only
//   ops/      the operator commands (secrets, backup, restore, model map, pin check), on lib/ only
//   dev/      the throwaway dev environment (node, node store, up/down, bench), on lib/ and images/
//   tests, test files and test set-ups may import anything; nothing else imports them.
const TESTS = '(^tests/|\\.test\\.ts$|^images/setup\\.ts$|^vitest\\.config\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'lib-imports-no-layer',
      comment: 'lib/ is the bottom layer: it imports nothing of the project.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(images|ops|dev|tests|fake-anthropic)/' },
    },
    {
      name: 'images-on-lib-only',
      comment:
        'The image factory builds on lib/ only (a recipe may package a program, as images/fake-anthropic does); its tests may import anything.',
      severity: 'error',
      from: { path: '^images/', pathNot: TESTS },
      to: { path: '^(ops|dev|tests)/' },
    },
    {
      name: 'ops-on-lib-only',
      comment: 'Operator commands run against any cluster: they import lib/ only, never the dev environment.',
      severity: 'error',
      from: { path: '^ops/' },
      to: { path: '^(images|dev|tests|fake-anthropic)/' },
    },
    {
      name: 'dev-on-lib-and-images',
      comment: 'The dev environment builds on lib/ and images/, not on the operator commands or the tests.',
      severity: 'error',
      from: { path: '^dev/' },
      to: { path: '^(ops|tests)/' },
    },
    {
      name: 'only-tests-import-tests',
      comment: 'Test support is for tests.',
      severity: 'error',
      from: { pathNot: TESTS },
      to: { path: TESTS },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one; merge them or move what both need down a layer.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, dependencyTypesNot: ['core'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^node_modules/|^\\.build/|^\\.scratch/)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
