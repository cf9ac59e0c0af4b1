// The load benchmark's image follows the stack's mode (dev/bench/load.ts): upstream mode pulls
// Locust's official image at the release images/locust builds, and builds nothing (that recipe's
// base is debootstrapped, which needs root); hermetic mode builds the recipe and pulls nothing.
// The Job leans on no default that differs between the two images.
import { describe, expect, it } from 'vitest';
import type * as k8s from '@kubernetes/client-node';
import { loadRecipes, type Recipe } from '../../images/factory/recipes.ts';
import { benchImage, benchObjects, ensureBenchImage, LOCUST, type BenchImageSteps } from '../../dev/bench/load.ts';

const recipes = await loadRecipes();
const locust = recipes.get(LOCUST.recipe)!;

/** Steps that record what was asked of them instead of building or pulling. */
function recorder(): BenchImageSteps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    build: async (recipe) => {
      calls.push(`build ${recipe}`);
      return recipes.get(recipe)!.ref;
    },
    pull: async (ref) => {
      calls.push(`pull ${ref}`);
    },
  };
}

/** The recipes with images/locust's inputs.upstream replaced. */
function withUpstream(upstream: string | undefined): Map<string, Recipe> {
  const inputs = { ...locust.inputs };
  if (upstream === undefined) delete inputs['upstream'];
  else inputs['upstream'] = upstream;
  return new Map([...recipes, [LOCUST.recipe, { ...locust, inputs }]]);
}

describe("the load benchmark's image", () => {
  it("is, in upstream mode, the recipe's inputs.upstream: Locust's official image at the release the recipe builds, pulled", () => {
    const image = benchImage('upstream', recipes);
    expect(image).toEqual({ ref: String(locust.inputs['upstream']), source: 'pulled' });
    expect(image.ref).toBe(`locustio/locust:${String(locust.inputs['locust'])}`);
  });

  it("is, in hermetic mode, the recipe's chatstack.local build", () => {
    expect(benchImage('hermetic', recipes)).toEqual({ ref: locust.ref, source: 'built' });
    expect(locust.ref).toMatch(/^chatstack\.local\/locust:/);
  });

  it('upstream mode pulls it and builds nothing; hermetic mode builds it and pulls nothing', async () => {
    const upstream = recorder();
    expect(await ensureBenchImage('upstream', () => {}, upstream)).toBe(locust.inputs['upstream']);
    expect(upstream.calls).toEqual([`pull ${String(locust.inputs['upstream'])}`]);
    const hermetic = recorder();
    expect(await ensureBenchImage('hermetic', () => {}, hermetic)).toBe(locust.ref);
    expect(hermetic.calls).toEqual(['build locust']);
  });

  it('refuses an inputs.upstream that is missing, not Locust, or not pinned (control)', () => {
    for (const bad of [undefined, 'locustio/locust', 'python:3.13-slim', 'docker.io/someone/locust:2.47.0'])
      expect(() => benchImage('upstream', withUpstream(bad)), String(bad)).toThrow(
        /inputs\.upstream must be a pinned tag of locustio\/locust/,
      );
    // hermetic mode never reads it
    expect(benchImage('hermetic', withUpstream(undefined)).source).toBe('built');
  });
});

describe('the load Job', () => {
  const job = benchObjects('ns', 'img:1', '{}').find((o) => o.kind === 'Job') as k8s.V1Job;
  const pod = job.spec!.template.spec!;
  const c = pod.containers[0]!;

  it("sets what either image's defaults would decide differently: working directory, user, HOME and Python's environment", () => {
    expect(c.workingDir).toBe('/tmp');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 });
    const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(env).toEqual({ HOME: '/tmp', PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' });
    // the image's ENTRYPOINT (locust in both) is replaced, and PATH is left to the image (its venv first)
    expect(c.command).toEqual(['python', '/bench/locustfile.py']);
    expect(c.env?.some((e) => e.name === 'PATH')).toBe(false);
  });

  it('runs on a read-only root with /tmp, its working directory and HOME, writable', () => {
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    expect(c.image).toBe('img:1');
    expect(c.imagePullPolicy).toBe('Never');
  });
});
