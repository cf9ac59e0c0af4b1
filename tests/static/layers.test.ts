// The harness's layers import one way (.dependency-cruiser.cjs says which): checked over the tree
// with dependency-cruiser, after each rule has been shown to catch a planted violation in a
// throwaway tree of the same shape.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { REPO_ROOT } from '../../lib/paths.ts';

const DEPCRUISE = join(REPO_ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(REPO_ROOT, '.dependency-cruiser.cjs');
const LAYERS = ['lib', 'images', 'ops', 'dev', 'tests', 'fake-anthropic'];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function cruise(cwd: string, dirs: string[]): Promise<Violation[]> {
  const r = await $({ cwd, quiet: true, nothrow: true })`${DEPCRUISE} ${dirs} --config ${CONFIG} --output-type json`;
  if (!r.stdout.trim().startsWith('{')) throw new Error(`depcruise failed (exit ${r.exitCode}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('layers', { timeout: 30_000 }, () => {
  it('catches an upward import for every rule (positive control, a planted tree)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'layers-'));
    try {
      const files: Record<string, string> = {
        'lib/wait.ts': "import { up } from '../dev/stack.ts';\nexport const w = up;\n",
        'images/factory/build.ts': "import { backup } from '../../ops/backup.ts';\nexport const b = backup;\n",
        'images/k3s/node.test.ts':
          "import { up } from '../../dev/stack.ts';\nimport { s } from '../../tests/support/x.ts';\nexport const t = [up, s];\n",
        'ops/backup.ts': "import { up } from '../dev/stack.ts';\nexport const backup = up;\n",
        'dev/stack.ts': "import { s } from '../tests/support/x.ts';\nexport const up = s;\n",
        'dev/a.ts': "import { c } from './b.ts';\nexport const a = c;\n",
        'dev/b.ts': "import { a } from './a.ts';\nexport const c = 1;\nexport const d = a;\n",
        'tests/support/x.ts': "import { w } from '../../lib/wait.ts';\nexport const s = w;\n",
      };
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), text);
      }
      copyFileSync(join(REPO_ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
      const found = (await cruise(dir, ['lib', 'images', 'ops', 'dev', 'tests'])).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
      expect(found).toEqual(
        expect.arrayContaining([
          'lib-imports-no-layer: lib/wait.ts → dev/stack.ts',
          'images-on-lib-only: images/factory/build.ts → ops/backup.ts',
          'ops-on-lib-only: ops/backup.ts → dev/stack.ts',
          'dev-on-lib-and-images: dev/stack.ts → tests/support/x.ts',
          'only-tests-import-tests: dev/stack.ts → tests/support/x.ts',
          expect.stringMatching(/^no-circular: dev\/(a|b)\.ts → dev\/(a|b)\.ts$/),
        ]),
      );
      // A test file may import any layer.
      expect(found.filter((f) => f.includes('node.test.ts'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the tree imports one way: no violation', async () => {
    const violations = await cruise(REPO_ROOT, LAYERS);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });
});
