// A scratch copy of the manifests (and the broken fixtures that build on them) with generated
// secrets, so rendering never touches, or depends on, the developer's own secrets/*.env files.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, listOverlays, renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { ensureOverlaySecrets, ensureOverlayTls } from '../../lib/secrets.ts';

export interface Workspace {
  root: string;
  overlaysDir: string;
  /** manifests/local: each overlay with its generated Secrets */
  localDir: string;
  fixturesDir: string;
  render(dir: string): Promise<KubeObject[]>;
  [Symbol.dispose](): void;
}

export async function createWorkspace(): Promise<Workspace> {
  const root = mkdtempSync(join(tmpdir(), 'chatstack-static-'));
  // Keep the repository's relative layout: fixtures refer to ../../../../manifests/overlays/...
  cpSync(join(REPO_ROOT, 'manifests'), join(root, 'manifests'), {
    recursive: true,
    filter: (src) => !/\/local\/[^/]+\/[^/]+\.(env|crt|key)$/.test(src),
  });
  cpSync(join(REPO_ROOT, 'tests/static/fixtures'), join(root, 'tests/static/fixtures'), { recursive: true });
  const overlaysDir = join(root, 'manifests/overlays');
  for (const name of listOverlays(overlaysDir)) {
    ensureOverlaySecrets(join(root, 'manifests/local', name));
    await ensureOverlayTls(join(root, 'manifests/local', name));
  }
  return {
    root,
    overlaysDir,
    localDir: join(root, 'manifests/local'),
    fixturesDir: join(root, 'tests/static/fixtures'),
    render: renderObjects,
    [Symbol.dispose]: () => rmSync(root, { recursive: true, force: true }),
  };
}
