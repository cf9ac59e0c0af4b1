// No credential is committed: secretlint's recommended rules over every tracked file, shown to
// work on a planted key first, and the generated env files are ignored by git.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { REPO_ROOT } from '../../lib/kustomize.ts';

const SECRETLINT = join(REPO_ROOT, 'node_modules/.bin/secretlint');
const RC = join(REPO_ROOT, '.secretlintrc.json');

async function secretlint(files: string[], cwd: string): Promise<{ code: number; out: string }> {
  const r = await $({ cwd, quiet: true, nothrow: true })`${SECRETLINT} --secretlintrc ${RC} --format compact ${files}`;
  return { code: r.exitCode ?? -1, out: r.stdout + r.stderr };
}

async function trackedFiles(): Promise<string[]> {
  const r = await $({ cwd: REPO_ROOT, quiet: true })`git ls-files -z`;
  return r.stdout.split('\0').filter((f) => f !== '' && !f.endsWith('package-lock.json'));
}

describe('secret scan', { timeout: 30_000 }, () => {
  it('catches a planted Anthropic key (positive control)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secretlint-'));
    try {
      // Built at run time so no key-shaped string is ever committed.
      const key = ['sk', 'ant', 'api03'].join('-') + '-' + 'Ab1'.repeat(31) + '-' + 'x'.repeat(6) + 'AA';
      writeFileSync(join(dir, 'litellm.env'), `ANTHROPIC_API_KEY=${key}\n`);
      const { code, out } = await secretlint(['litellm.env'], dir);
      expect(code).not.toBe(0);
      expect(out).toMatch(/anthropic/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds nothing in the tracked files', async () => {
    const files = await trackedFiles();
    expect(files.length).toBeGreaterThan(20);
    const { code, out } = await secretlint(files, REPO_ROOT);
    expect(out.trim()).toBe('');
    expect(code).toBe(0);
  });

  it('tracks no env file and ignores every generated one', async () => {
    const files = await trackedFiles();
    expect(files.filter((f) => /\.env$/.test(f))).toEqual([]);
    const examples = files.filter((f) => f.endsWith('.env.example'));
    expect(examples.length).toBeGreaterThan(0);
    const generated = examples.map((f) => f.replace(/\.example$/, ''));
    const { stdout } = await $({ cwd: REPO_ROOT, quiet: true })`git check-ignore --no-index ${generated}`;
    expect(stdout.trim().split('\n').sort()).toEqual(generated.sort());
  });
});
