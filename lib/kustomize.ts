// Rendering overlays. `kubectl kustomize` is the one host prerequisite besides Node, so its
// absence and its errors are turned into messages that say what to do.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { $ } from 'zx';
import { REPO_ROOT } from './paths.ts';

export { REPO_ROOT };
export const MANIFESTS_DIR = join(REPO_ROOT, 'manifests');
export const OVERLAYS_DIR = join(MANIFESTS_DIR, 'overlays');
/** manifests/local/<overlay>: the overlay with its Secrets generated from gitignored env files. */
export const LOCAL_DIR = join(MANIFESTS_DIR, 'local');

/** The subset of a Kubernetes object every check relies on. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function listOverlays(overlaysDir = OVERLAYS_DIR): string[] {
  return readdirSync(overlaysDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(overlaysDir, d.name, 'kustomization.yaml')))
    .map((d) => d.name)
    .sort();
}

/** Overlays that were renamed, and why: asking for the old name says where to go. */
const RENAMED: Record<string, string> = {
  kind: 'local-cluster (ingress-nginx, which the kind overlay used, is retired; local-cluster comes in through the Gateway API: docs/operations.md, "Moving from the kind overlay")',
};

export function overlayDir(name: string, overlaysDir = OVERLAYS_DIR): string {
  const dir = join(overlaysDir, name);
  if (!existsSync(join(dir, 'kustomization.yaml'))) {
    if (RENAMED[name]) throw new Error(`No overlay "${name}": it is now ${RENAMED[name]}`);
    throw new Error(`No overlay "${name}" (no ${join(dir, 'kustomization.yaml')}). Overlays: ${listOverlays(overlaysDir).join(', ')}`);
  }
  return dir;
}

/**
 * The local instance of an overlay (manifests/local/<name>): the overlay plus the Secrets it names,
 * generated from the env files `npm run secrets` writes there. What `dev:up` applies.
 */
export function localDir(name: string, manifestsDir = MANIFESTS_DIR): string {
  overlayDir(name, join(manifestsDir, 'overlays'));
  const dir = join(manifestsDir, 'local', name);
  if (!existsSync(join(dir, 'kustomization.yaml')))
    throw new Error(
      `Overlay "${name}" has no local instance (no ${join(dir, 'kustomization.yaml')}): it names its Secrets, which the cluster must already hold`,
    );
  return dir;
}

export class KubectlMissingError extends Error {
  constructor() {
    super(
      'kubectl was not found on PATH. It renders the overlays (kubectl kustomize) and is the only host tool ' +
        'needed besides Node. Install kubectl 1.27 or newer (its kustomize must know Components; Debian ' +
        "bookworm's kubernetes-client 1.20 is too old): the Kubernetes release binary, `brew install kubectl`, " +
        'or your cloud SDK, then run the command again.',
    );
    this.name = 'KubectlMissingError';
  }
}

/** Renders a kustomization directory to YAML text. */
export async function render(dir: string): Promise<string> {
  const r = await $({ quiet: true, nothrow: true })`kubectl kustomize ${dir}`;
  if (r.exitCode === 0) return r.stdout;
  if (r.exitCode === 127) throw new KubectlMissingError();
  const detail = r.stderr.replace(/^E\d{4} [\d:.]+\s+\d+ run\.go:\d+\] /gm, '').trim();
  // A local instance whose env files were never written: say which command writes them.
  const local = /manifests\/local\/([^/]+)\/?$/.exec(dir)?.[1];
  const hint =
    local && /env source files|no such file/.test(detail) ? `\n(its env files are made by: npm run secrets -- --overlay ${local})` : '';
  throw new Error(`kustomize could not render ${dir}:\n${detail}${hint}`);
}

/** Parses multi-document YAML into objects, failing on any YAML error with its position. */
export function parseObjects(text: string, source = 'manifest'): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as KubeObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

export async function renderObjects(dir: string): Promise<KubeObject[]> {
  return parseObjects(await render(dir), dir);
}
