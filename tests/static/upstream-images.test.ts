// In upstream mode the cluster pulls exactly what the manifests name: every image an overlay or a
// test fixture runs must be an allowed upstream repository, pinned to a tag or digest of the
// right shape, and the very release its hermetic stand-in (images/<recipe>) says it reproduces,
// so that the two modes run the same releases. The harness's own pulls (the node, the reaper,
// the fake's public base, the load benchmark's Locust) are held to the same rule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { listOverlays, renderObjects, REPO_ROOT } from '../../lib/kustomize.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { HERMETIC_RECIPES, OWN_RECIPES, UPSTREAM_K3S } from '../../dev/lib/image-mode.ts';
import { loadRecipes, recipeImageRef, type Recipe } from '../../images/factory/recipes.ts';
import { UPSTREAM_RYUK_IMAGE } from '../../images/factory/testcontainers.ts';
import { publicBases } from '../../images/factory/public-base.ts';
import { benchImage, LOCUST } from '../../dev/bench/load.ts';
import { readFile } from 'node:fs/promises';

const FIXTURES = [
  'tests/integration/fixtures/monitoring',
  'tests/production/fixtures/managed-datastores',
  'tests/production/fixtures/oidc-provider',
];

/** Upstream repositories a source may name (name -> the recipe of its hermetic stand-in), and where that list lives. */
interface Allowed {
  recipes: Record<string, string>;
  where: string;
}
/** The stack's and its fixtures' apps. */
const APPS: Allowed = { recipes: HERMETIC_RECIPES, where: 'dev/lib/image-mode.ts HERMETIC_RECIPES' };
/** The load benchmark's: Locust's official image only (never an overlay's). */
const BENCH: Allowed = { recipes: { [LOCUST.upstream]: LOCUST.recipe }, where: 'dev/bench/load.ts LOCUST' };

/** An image reference pinned to a release: `name:tag` (not latest, not a moving major) or `name@sha256:<64 hex>`. */
const PINNED = /^[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;
function pinProblem(ref: string): string | undefined {
  if (!PINNED.test(ref.replace(/^([a-z0-9.-]+\.[a-z]+|localhost)(:\d+)?\//, 'r/'))) return 'is not a well-formed reference';
  const tag = /:([\w][\w.-]*)$/.exec(ref.split('@')[0]!.replace(/^[^/]*:\d+\//, ''))?.[1];
  if (!tag && !ref.includes('@sha256:')) return 'has neither tag nor digest';
  if (tag === 'latest' || (tag && /^v?\d+$/.test(tag))) return `has the moving tag ${tag}`;
  return undefined;
}

/** What is wrong with the upstream images `refs` (source -> references), against the recipes. */
function problems(refs: Map<string, string[]>, recipes: Map<string, Recipe>, own: string[], allowed: Allowed = APPS): string[] {
  const out: string[] = [];
  const upstreamOf = (recipe: string) => String(recipes.get(recipe)?.inputs['upstream'] ?? '');
  for (const [source, list] of refs) {
    for (const ref of list) {
      if (own.includes(ref)) continue; // the project's own: built in both modes
      const name = ref.replace(/[:@].*$/, '').replace(/^(docker\.io\/)?(library\/)?/, '');
      const recipe = allowed.recipes[name];
      if (!recipe) out.push(`${source}: ${ref} is not an allowed upstream repository (${allowed.where})`);
      else if (upstreamOf(recipe) !== ref)
        out.push(`${source}: ${ref} is not images/${recipe}'s inputs.upstream (${upstreamOf(recipe) || 'none'})`);
      const bad = pinProblem(ref);
      if (bad) out.push(`${source}: ${ref} ${bad}`);
    }
  }
  return out;
}

let ws: Workspace;
const named = new Map<string, string[]>();
let recipes: Map<string, Recipe>;
let own: string[];

beforeAll(async () => {
  ws = await createWorkspace();
  recipes = await loadRecipes();
  own = await Promise.all(OWN_RECIPES.map((r) => recipeImageRef(r)));
  const images = (objs: Awaited<ReturnType<typeof renderObjects>>) =>
    [...JSON.stringify(objs).matchAll(/"image":"([^"]+)"/g)].map((m) => m[1]!).filter((v, i, a) => a.indexOf(v) === i);
  for (const name of listOverlays(ws.overlaysDir)) named.set(`overlay ${name}`, images(await ws.render(join(ws.localDir, name))));
  for (const dir of FIXTURES) named.set(dir, images(await renderObjects(join(REPO_ROOT, dir))));
});
afterAll(() => ws?.[Symbol.dispose]());

describe('the upstream images', () => {
  it('are caught when off the list, unpinned, or not the release their recipe reproduces (control)', () => {
    const bad = new Map([
      ['x', ['redis:8.0.3', 'redis:latest', 'docker.io/bitnami/redis:8.0.4', 'ghcr.io/open-webui/open-webui:v0', own[0]!]],
    ]);
    expect(problems(bad, recipes, own)).toEqual([
      "x: redis:8.0.3 is not images/redis's inputs.upstream (redis:8.0.4)",
      "x: redis:latest is not images/redis's inputs.upstream (redis:8.0.4)",
      'x: redis:latest has the moving tag latest',
      'x: docker.io/bitnami/redis:8.0.4 is not an allowed upstream repository (dev/lib/image-mode.ts HERMETIC_RECIPES)',
      `x: ghcr.io/open-webui/open-webui:v0 is not images/open-webui's inputs.upstream (${String(recipes.get('open-webui')!.inputs['upstream'])})`,
      'x: ghcr.io/open-webui/open-webui:v0 has the moving tag v0',
    ]);
  });

  it('that every overlay and test fixture names are allowed, pinned, and the releases of their hermetic stand-ins', () => {
    expect([...named.keys()].length).toBe(listOverlays(ws.overlaysDir).length + FIXTURES.length);
    for (const [source, refs] of named) expect(refs.length, `${source} names images`).toBeGreaterThan(0);
    expect(problems(named, recipes, own)).toEqual([]);
  });

  it("that the harness pulls itself (the node, Testcontainers' reaper, the fake's public base) are their recipes' inputs.upstream", async () => {
    const upstreamOf = (recipe: string) => recipes.get(recipe)?.inputs['upstream'];
    expect(UPSTREAM_K3S).toBe(upstreamOf('k3s'));
    expect(UPSTREAM_RYUK_IMAGE).toBe(upstreamOf('ryuk'));
    const bases = Object.values(publicBases(await readFile(join(REPO_ROOT, 'fake-anthropic/Dockerfile'), 'utf8')));
    expect(bases).toEqual([upstreamOf('node')]);
    for (const ref of [UPSTREAM_K3S, UPSTREAM_RYUK_IMAGE, ...bases]) expect(pinProblem(ref), ref).toBeUndefined();
  });

  it("that the load benchmark pulls in upstream mode is Locust's official image, pinned, at the release images/locust builds", () => {
    const { ref, source } = benchImage('upstream', recipes);
    expect(source).toBe('pulled');
    expect(problems(new Map([['dev/bench/load.ts', [ref]]]), recipes, own, BENCH)).toEqual([]);
    // control: the stack's apps are not the bench's to pull, nor is Locust an overlay's
    expect(problems(new Map([['x', ['redis:8.0.4']]]), recipes, own, BENCH)).toEqual([
      'x: redis:8.0.4 is not an allowed upstream repository (dev/bench/load.ts LOCUST)',
    ]);
    expect(problems(new Map([['x', [ref]]]), recipes, own)).toEqual([
      `x: ${ref} is not an allowed upstream repository (dev/lib/image-mode.ts HERMETIC_RECIPES)`,
    ]);
  });

  it('each have a recipe that says which upstream release it reproduces', () => {
    for (const [name, recipe] of Object.entries({ ...APPS.recipes, ...BENCH.recipes })) {
      const upstream = String(recipes.get(recipe)?.inputs['upstream'] ?? '');
      expect(upstream.replace(/[:@].*$/, ''), `images/${recipe}`).toBe(name);
    }
  });
});
