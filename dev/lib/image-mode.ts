// Which images the stack runs: the upstream ones (users with a registry) or the hermetic ones
// this project builds from package registries (closed networks, our own machines and CI).
// The manifests are the same either way; only image references are swapped, with kustomize's
// `images:` transformer, in a throwaway kustomization that wraps the overlay.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { ensureImages, type EnsureOptions } from '../../images/factory/build.ts';
import { ensureOnPublicBases } from '../../images/factory/public-base.ts';
import { DockerError, imageExists } from '../../lib/docker.ts';
import { configuredMirrors, MIRROR_ENV, mirroredRef, pullUpstream } from '../../lib/registry-mirror.ts';
import { loadRecipes, recipeImageRef } from '../../images/factory/recipes.ts';
import { renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { pinnedImages } from '../../lib/pins.ts';

export type ImageMode = 'upstream' | 'hermetic';
export const IMAGE_MODE_ENV = 'CHATSTACK_IMAGES';

/** The upstream k3s release whose run-time contract the hermetic node image reproduces. */
export const UPSTREAM_K3S = 'rancher/k3s:v1.35.4-k3s1';

/** Upstream image name -> the recipe (images/<recipe>/) that builds its local equivalent. */
export const HERMETIC_RECIPES: Record<string, string> = {
  'rancher/k3s': 'k3s',
  'ghcr.io/berriai/litellm-non_root': 'litellm',
  'ghcr.io/open-webui/open-webui': 'open-webui',
  'pgvector/pgvector': 'postgres',
  redis: 'redis',
  // a test fixture (the production project's OIDC provider), never part of the product
  'ghcr.io/dexidp/dex': 'dex',
  // a test fixture (the production project's transaction-mode pooler)
  'edoburu/pgbouncer': 'pgbouncer',
  // a test fixture (the monitoring test's scraper; promtool for the alerts' unit tests)
  'prom/prometheus': 'prometheus',
  // a test fixture (the monitoring test's trace receiver)
  'otel/opentelemetry-collector': 'otel-collector',
  // a test fixture (the monitoring test's pod restart and OOM metrics)
  'registry.k8s.io/kube-state-metrics/kube-state-metrics': 'kube-state-metrics',
};
/**
 * Upstream image name -> the recipe of the earlier release an upgrade starts from (the upgrade
 * tests): what a stack ran before these manifests' pins, with its data in place.
 */
export const PREVIOUS_RECIPES: Record<string, string> = {
  'ghcr.io/open-webui/open-webui': 'open-webui-previous',
  'ghcr.io/berriai/litellm-non_root': 'litellm-previous',
};

/**
 * The earlier releases as kustomize image swaps (upstream name -> reference to run): the local
 * hermetic builds, or upstream's own tags (the recipes' inputs.upstream) for a registry.
 */
export async function previousReleases(mode: ImageMode): Promise<Record<string, string>> {
  const recipes = await loadRecipes();
  return Object.fromEntries(
    Object.entries(PREVIOUS_RECIPES).map(([name, recipe]) => {
      const r = recipes.get(recipe);
      if (!r) throw new Error(`no image recipe images/${recipe} (the release before ${name}'s pin)`);
      const upstream = String(r.inputs['upstream'] ?? '');
      if (mode === 'upstream' && imageName(upstream) !== name)
        throw new Error(`images/${recipe}/image.json: inputs.upstream must be a tag of ${name}, not "${upstream}"`);
      return [name, mode === 'hermetic' ? r.ref : upstream];
    }),
  );
}

/** The project's own images: built by the hermetic factory, or on public base images in upstream mode. */
export const OWN_RECIPES = ['fake-anthropic'];

export interface ImageChoice {
  mode: ImageMode;
  reason: string;
}

/** An image reference without its tag or digest (`redis:8.0.4` -> `redis`). */
export function imageName(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

/** Every image name the rendered objects' pods run. */
export function imagesUsed(objects: KubeObject[]): Set<string> {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'containers' || k === 'initContainers') && Array.isArray(x)) {
          for (const c of x as { image?: string }[]) if (c.image) names.add(imageName(c.image));
        } else walk(x);
      }
    }
  };
  walk(objects);
  return names;
}

/**
 * The upstream references a stack needs: k3s plus the pinned images (all of them, or those of
 * `used`, the image names an overlay runs).
 */
export function upstreamRefs(used?: Set<string>): string[] {
  const pins = Object.entries(pinnedImages()).filter(([name]) => !used || used.has(name));
  return [UPSTREAM_K3S, ...pins.map(([name, tag]) => (tag.startsWith('sha256:') ? `${name}@${tag}` : `${name}:${tag}`))];
}

/** How long one pull may take, the probe's included (it pulls the node image the stack needs anyway). */
export const PULL_TIMEOUT_MS = 15 * 60_000;

/**
 * Why a pull failed, from the engine's message: `unreachable` when no registry answers (no DNS,
 * no route, refused, the engine's own dial timeout), so the images must be built here; `refused`
 * when a registry answered and said no (an unknown tag, a login needed, Docker Hub's pull limit),
 * which building would only hide.
 */
export function pullFailure(stderr: string): 'unreachable' | 'refused' {
  return /no such host|server misbehaving|dial tcp|i\/o timeout|connection refused|network is unreachable|no route to host|TLS handshake timeout|Client\.Timeout exceeded|connection reset/i.test(
    stderr,
  )
    ? 'unreachable'
    : 'refused';
}

/** What the mode choice asks of the engine. */
export interface ModeEngine {
  exists(ref: string): Promise<boolean>;
  pull(ref: string, timeoutMs: number): Promise<{ code: number; stderr: string; timedOut: boolean }>;
}

export class ImageModeError extends Error {
  constructor(message: string) {
    super(
      `${message}. Set ${IMAGE_MODE_ENV}=upstream to use the registry's images (and fix what it said), or ` +
        `${IMAGE_MODE_ENV}=hermetic to build equivalents from package registries (Linux, as root).`,
    );
    this.name = 'ImageModeError';
  }
}

/**
 * CHATSTACK_IMAGES=upstream|hermetic forces a mode; otherwise upstream when its images are
 * present or the k3s image can be pulled (through CHATSTACK_REGISTRY_MIRROR's mirror, or the
 * engine's own registry mirrors),
 * hermetic when no registry answers at all. A registry that answers "no", or a pull that does not
 * finish, is an error to act on, never a silent switch to building. `npm test` decides once and
 * hands the mode to every project (tests/run.ts). `engine` is Docker's, replaceable in tests.
 */
export async function chooseImageMode(
  env: NodeJS.ProcessEnv = process.env,
  used?: Set<string>,
  engine: ModeEngine = { exists: imageExists, pull: (ref, timeoutMs) => pullUpstream(ref, timeoutMs) },
): Promise<ImageChoice> {
  const forced = env[IMAGE_MODE_ENV];
  if (forced === 'upstream' || forced === 'hermetic') return { mode: forced, reason: `${IMAGE_MODE_ENV}=${forced}` };
  if (forced && forced !== 'auto') throw new Error(`${IMAGE_MODE_ENV} must be upstream, hermetic or auto, not "${forced}"`);
  const refs = upstreamRefs(used);
  const present = await Promise.all(refs.map((r) => engine.exists(r)));
  if (present.every(Boolean)) return { mode: 'upstream', reason: 'the upstream images are present locally' };
  const probe = refs[present.findIndex((p) => !p)]!;
  const r = await engine.pull(probe, PULL_TIMEOUT_MS);
  if (r.code === 0) return { mode: 'upstream', reason: `pulled ${probe}` };
  const said = r.stderr.split('\n').pop() ?? '';
  if (r.timedOut) throw new ImageModeError(`pulling ${probe} did not finish within ${PULL_TIMEOUT_MS / 60_000} min`);
  if (pullFailure(said) === 'refused') throw new ImageModeError(`the registry refused ${probe}: ${said}`);
  return {
    mode: 'hermetic',
    reason: `no registry answers for ${probe} (${said}); building equivalents from package registries`,
  };
}

export interface StackImages {
  mode: ImageMode;
  /** the k3s node image */
  node: string;
  /** upstream image name -> the reference to run instead (hermetic mode only) */
  swaps: Record<string, string>;
  /** every image the cluster must be given (apps and the project's own) */
  workload: string[];
  /** what this call built, each with the public bases it was built on (upstream mode) or none (a hermetic recipe) */
  built: { name: string; publicBases?: string[] }[];
}

/**
 * Pulls each upstream reference the engine does not hold yet, through CHATSTACK_REGISTRY_MIRROR's
 * mirror when one is set (then tagged with the upstream name, what the node is given); throws
 * DockerError when a pull fails. Upstream mode's one way to fetch an image: the stack's apps and
 * the bench's load generator alike.
 */
export async function pullMissing(refs: string[], log?: (line: string) => void): Promise<void> {
  const mirrors = configuredMirrors();
  for (const ref of refs) {
    if (await imageExists(ref)) continue;
    const from = mirroredRef(ref, mirrors);
    log?.(`pulling ${ref}${from === ref ? '' : ` as ${from} (${MIRROR_ENV})`}`);
    const pull = await pullUpstream(ref, PULL_TIMEOUT_MS, mirrors);
    if (pull.code !== 0) throw new DockerError(['pull', from], pull);
  }
}

/**
 * Makes sure the images of the chosen mode are available locally (building or pulling): the node
 * and, with `used` (the image names an overlay runs), only those; without it, all of them.
 * `alsoBuild` recipes are built in the same pass (hermetic mode), not returned.
 */
export async function prepareImages(
  mode: ImageMode,
  opts: EnsureOptions = {},
  used?: Set<string>,
  alsoBuild: string[] = [],
): Promise<StackImages> {
  const ownRefs = await Promise.all(OWN_RECIPES.map(async (r) => ({ recipe: r, ref: await recipeImageRef(r) })));
  const ownUsed = ownRefs.filter((o) => !used || used.has(imageName(o.ref)));
  const own = ownUsed.map((o) => o.ref);
  if (mode === 'hermetic') {
    const apps = Object.entries(HERMETIC_RECIPES).filter(([name]) => name !== 'rancher/k3s' && (!used || used.has(name)));
    const built = await ensureImages(['k3s', ...apps.map(([, recipe]) => recipe), ...ownUsed.map((o) => o.recipe), ...alsoBuild], opts);
    const ref = (recipe: string) => built.find((b) => b.name === recipe)!.ref;
    const swaps = Object.fromEntries(apps.map(([name, recipe]) => [name, ref(recipe)]));
    const done = built.filter((b) => b.status === 'built').map((b) => ({ name: b.name }));
    return { mode, node: ref('k3s'), swaps, workload: [...Object.values(swaps), ...own], built: done };
  }
  // Upstream mode compiles nothing: the project's own images are built on public base images.
  const ownBuilt =
    ownUsed.length > 0
      ? await ensureOnPublicBases(
          ownUsed.map((o) => o.recipe),
          { log: opts.log },
        )
      : [];
  const refs = upstreamRefs(used);
  await pullMissing(refs, opts.log);
  const built = ownBuilt.filter((b) => b.status === 'built').map((b) => ({ name: b.name, publicBases: b.publicBases ?? [] }));
  return { mode, node: UPSTREAM_K3S, swaps: {}, workload: [...refs.slice(1), ...own], built };
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
