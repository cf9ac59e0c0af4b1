// Which images the stack runs: the upstream ones (users with a registry) or the hermetic ones
// this project builds from package registries (closed networks, our own machines and CI).
// The manifests are the same either way; only image references are swapped, with kustomize's
// `images:` transformer, in a throwaway kustomization that wraps the overlay.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { ensureImages, type EnsureOptions } from '../../images/factory/build.ts';
import { DockerError, imageExists, tryPull } from '../../images/factory/docker.ts';
import { recipeImageRef } from '../../images/factory/recipes.ts';
import { renderObjects, type KubeObject } from './kustomize.ts';
import { pinnedImages } from './pins.ts';

export type ImageMode = 'upstream' | 'hermetic';
export const IMAGE_MODE_ENV = 'CHATSTACK_IMAGES';

/** The upstream k3s release whose run-time contract the hermetic node image reproduces. */
export const UPSTREAM_K3S = 'rancher/k3s:v1.35.4-k3s1';

/** Upstream image name -> the recipe (images/<recipe>/) that builds its local equivalent. */
export const HERMETIC_RECIPES: Record<string, string> = {
  'rancher/k3s': 'k3s',
  'ghcr.io/berriai/litellm-non_root': 'litellm',
  'ghcr.io/open-webui/open-webui': 'open-webui',
};
/** The project's own images: built from images/ in both modes. */
export const OWN_RECIPES = ['fake-anthropic'];

export interface ImageChoice {
  mode: ImageMode;
  reason: string;
}

/** The upstream references the stack needs: k3s plus the apps at the tags the base pins. */
export function upstreamRefs(): string[] {
  const pins = pinnedImages();
  return [UPSTREAM_K3S, ...Object.entries(pins).map(([name, tag]) => (tag.startsWith('sha256:') ? `${name}@${tag}` : `${name}:${tag}`))];
}

/**
 * CHATSTACK_IMAGES=upstream|hermetic forces a mode; otherwise upstream when its images are
 * present or the k3s image can be pulled, hermetic when no registry answers.
 */
export async function chooseImageMode(env: NodeJS.ProcessEnv = process.env): Promise<ImageChoice> {
  const forced = env[IMAGE_MODE_ENV];
  if (forced === 'upstream' || forced === 'hermetic') return { mode: forced, reason: `${IMAGE_MODE_ENV}=${forced}` };
  if (forced && forced !== 'auto') throw new Error(`${IMAGE_MODE_ENV} must be upstream, hermetic or auto, not "${forced}"`);
  const refs = upstreamRefs();
  const present = await Promise.all(refs.map(imageExists));
  if (present.every(Boolean)) return { mode: 'upstream', reason: 'the upstream images are present locally' };
  const probe = refs[present.findIndex((p) => !p)]!;
  const pull = await tryPull(probe);
  if (pull.code === 0) return { mode: 'upstream', reason: `pulled ${probe}` };
  return { mode: 'hermetic', reason: `cannot pull ${probe} (${pull.stderr.split('\n').pop()}); building equivalents from package registries` };
}

export interface StackImages {
  mode: ImageMode;
  /** the k3s node image */
  node: string;
  /** upstream image name -> the reference to run instead (hermetic mode only) */
  swaps: Record<string, string>;
  /** every image the cluster must be given (apps and the project's own) */
  workload: string[];
}

/** Makes sure every image of the chosen mode is available locally (building or pulling). */
export async function prepareImages(mode: ImageMode, opts: EnsureOptions = {}): Promise<StackImages> {
  const own = await Promise.all(OWN_RECIPES.map((r) => recipeImageRef(r)));
  if (mode === 'hermetic') {
    const recipes = [...Object.values(HERMETIC_RECIPES), ...OWN_RECIPES];
    const built = await ensureImages(recipes, opts);
    const ref = (recipe: string) => built.find((b) => b.name === recipe)!.ref;
    const swaps = Object.fromEntries(
      Object.entries(HERMETIC_RECIPES)
        .filter(([name]) => name !== 'rancher/k3s')
        .map(([name, recipe]) => [name, ref(recipe)]),
    );
    return { mode, node: ref('k3s'), swaps, workload: [...Object.values(swaps), ...own] };
  }
  await ensureImages(OWN_RECIPES, opts);
  const refs = upstreamRefs();
  for (const ref of refs) {
    if (!(await imageExists(ref))) {
      opts.log?.(`pulling ${ref}`);
      const pull = await tryPull(ref, 15 * 60_000);
      if (pull.code !== 0) throw new DockerError(['pull', ref], pull);
    }
  }
  return { mode, node: UPSTREAM_K3S, swaps: {}, workload: [...refs.slice(1), ...own] };
}

/**
 * Renders an overlay with its upstream image names swapped. Render the overlay itself first
 * (as `up()`'s preflight does): its errors name the overlay, this one's a temp dir.
 */
export async function renderWithImages(overlayDir: string, swaps: Record<string, string>): Promise<KubeObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'chatstack-render-'));
  try {
    const images = Object.entries(swaps).map(([name, ref]) => {
      const at = ref.lastIndexOf(':');
      return { name, newName: ref.slice(0, at), newTag: ref.slice(at + 1) };
    });
    // kustomize refuses absolute resource paths; a relative one may leave the root.
    writeFileSync(join(dir, 'kustomization.yaml'), stringify({ resources: [relative(dir, overlayDir)], images }));
    return await renderObjects(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
