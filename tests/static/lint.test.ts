// `npm run lint`: typescript-eslint's recommended rules and Prettier's formatting hold over the
// whole tree, each shown first to catch a planted violation (code given on stdin under a path in
// the tree, so the tree's own configuration applies to it).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { REPO_ROOT } from '../../lib/paths.ts';

const bin = (name: string) => join(REPO_ROOT, 'node_modules/.bin', name);
const run = $({ cwd: REPO_ROOT, quiet: true, nothrow: true });
const PLANTED = 'tests/static/planted.ts';

describe('lint', { timeout: 60_000 }, () => {
  it('ESLint catches a planted violation (positive control)', async () => {
    const r = await run({ input: 'export const x: any = 1;\nconst unused = 2;\n' })`${bin('eslint')} --stdin --stdin-filename ${PLANTED}`;
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/no-explicit-any/);
    expect(r.stdout).toMatch(/'unused' is assigned a value but never used/);
  });

  it('Prettier catches planted formatting (positive control)', async () => {
    const planted = 'export const x = {a:1,\n      b:2}\n';
    const r = await run({ input: planted })`${bin('prettier')} --stdin-filepath ${PLANTED}`;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toBe(planted);
  });

  it('the tree passes ESLint', async () => {
    const r = await run`${bin('eslint')} .`;
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('the tree is formatted as Prettier formats it', async () => {
    const r = await run`${bin('prettier')} --list-different .`;
    expect(r.stdout.trim().split('\n').filter(Boolean)).toEqual([]);
    expect(r.exitCode).toBe(0);
  });
});
