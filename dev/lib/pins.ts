// The image pins: manifests/base/kustomization.yaml for the apps, a component's own for the
// images only it brings (each tag is set in exactly one place).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from './kustomize.ts';

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** image name -> tag (or digest) as pinned by one kustomization's `images:`. */
export function imagePins(kustomization: string): Record<string, string> {
  const doc = parse(readFileSync(kustomization, 'utf8')) as { images?: ImageEntry[] };
  return Object.fromEntries((doc.images ?? []).map((i) => [i.name, i.digest ?? i.newTag ?? '']));
}

/**
 * image name -> tag (or digest): the apps' pins in the base, plus those of the components that
 * bring images of their own (the in-cluster datastores).
 */
export function pinnedImages(manifests = MANIFESTS_DIR): Record<string, string> {
  const components = join(manifests, 'components');
  const files = [join(manifests, 'base/kustomization.yaml'), ...readdirSync(components).sort().map((c) => join(components, c, 'kustomization.yaml'))];
  return Object.assign({}, ...files.filter((f) => existsSync(f)).map(imagePins)) as Record<string, string>;
}
