// The image pins of manifests/base/kustomization.yaml: the one place tags are set.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from './kustomize.ts';

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** image name -> tag (or digest) as pinned by the base kustomization. */
export function pinnedImages(kustomization = join(MANIFESTS_DIR, 'base/kustomization.yaml')): Record<string, string> {
  const doc = parse(readFileSync(kustomization, 'utf8')) as { images?: ImageEntry[] };
  return Object.fromEntries((doc.images ?? []).map((i) => [i.name, i.digest ?? i.newTag ?? '']));
}
