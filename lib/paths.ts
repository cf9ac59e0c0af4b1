// Where the checkout and its build outputs are, for every layer: the library sits one level below
// the repository root.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Build outputs and logs (gitignored): image contexts, the engine bootstrap's log. */
export const BUILD_DIR = join(REPO_ROOT, '.build');
