// What a clean clone of this checkout holds, for the tests that deploy from git.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../../lib/paths.ts';

/**
 * A copy of what a clean clone of this tree holds: the files git tracks or would track (not the
 * ignored ones: env files, keys), as they are in the working tree, so uncommitted work is checked too.
 */
export function cleanCopy(paths: string[] = ['manifests']): string {
  const dir = mkdtempSync(join(tmpdir(), 'clean-clone-'));
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...paths], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).split('\0');
  for (const f of listed.filter((f) => f && existsSync(join(REPO_ROOT, f)))) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(REPO_ROOT, f), join(dir, f));
  }
  return dir;
}
