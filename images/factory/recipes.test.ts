// A recipe's hash must change whenever anything its image is built from changes; otherwise an
// edited input leaves a stale image that the builder calls up to date. Two halves: every input of
// a recipe lies inside its directory (a shared file is linked in, never reached by `../`), and
// every file there, found by a plain walk, moves the hash. No Docker needed.
import { appendFileSync, chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildJobs, runInDependencyOrder } from './build.ts';
import { buildOrder, IMAGES_DIR, loadRecipes, recipeHashes } from './recipes.ts';

/** Every file below dir, following symlinks, as a plain walk sees it (tests and docs excepted unless asked). */
function walk(dir: string, rel = '', all = false): string[] {
  return readdirSync(path.join(dir, rel)).flatMap((name) => {
    const p = rel ? `${rel}/${name}` : name;
    if (statSync(path.join(dir, p)).isDirectory()) return walk(dir, p, all);
    return !all && (p.endsWith('.test.ts') || p.endsWith('.md')) ? [] : [p];
  });
}

/**
 * Lines of a host-side build script (prepare.sh) that reach a path outside the recipe directory.
 * A line may do so only for an input whose version image.json pins (and the script checks), and
 * says so with `# pinned: inputs.<key>`.
 */
export function outsideReferences(script: string): string[] {
  return script
    .split('\n')
    .filter((line) => !/^\s*#/.test(line) && !/# pinned: inputs\.\w+/.test(line))
    .filter((line) => /(\$\{?(HERE|RECIPE_DIR|PWD)\}?|\.)\/\.\.(\/|$|["'\s])/.test(line) || /(^|[\s"'=])\.\.\//.test(line));
}

describe('recipe hashes', () => {
  let root = '';
  const hashesOf = async () => {
    const recipes = await loadRecipes(root, path.join(root, '.build'));
    return recipeHashes(buildOrder(recipes, [...recipes.keys()]));
  };

  beforeAll(() => {
    // A real copy with every symlink resolved: editing it cannot touch the repository.
    root = mkdtempSync(path.join(tmpdir(), 'chatstack-recipes-'));
    cpSync(IMAGES_DIR, root, {
      recursive: true,
      dereference: true,
      filter: (src) => !src.includes(`${path.sep}factory`) && !src.endsWith('.test.ts'),
    });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('no build script of a recipe reaches outside its directory', async () => {
    const recipes = await loadRecipes();
    expect(recipes.size).toBeGreaterThanOrEqual(7);
    for (const r of recipes.values()) {
      // Only prepare.sh runs on the host; a Dockerfile sees nothing but the context (the recipe's copy).
      for (const file of walk(r.dir).filter((f) => f === 'prepare.sh')) {
        expect(outsideReferences(readFileSync(path.join(r.dir, file), 'utf8')), `images/${r.name}/${file}`).toEqual([]);
      }
    }
  });

  it('leaves on-demand recipes (the benchmark\'s load generator) out of "every image", and builds them when named', async () => {
    const recipes = await loadRecipes();
    const onDemand = [...recipes.values()].filter((r) => r.onDemand).map((r) => r.name);
    expect(onDemand).toContain('locust');
    const every = buildOrder(recipes).map((r) => r.name);
    for (const name of onDemand) expect(every).not.toContain(name);
    expect(every).toContain('litellm');
    expect(buildOrder(recipes, ['locust']).map((r) => r.name)).toEqual(['base', 'locust']);
  });

  it('the check above catches a script that compiles a file of another recipe', () => {
    expect(outsideReferences('gcc -static -o "$CONTEXT_DIR/pause" "$HERE/../pause/pause.c"')).toHaveLength(1);
    expect(outsideReferences('cp ../lib/pip-wheels.sh .')).toHaveLength(1);
    expect(outsideReferences('repo="$(cd "$RECIPE_DIR/../.." && pwd)"')).toHaveLength(1);
    expect(outsideReferences('repo="$(cd "$RECIPE_DIR/../.." && pwd)" # pinned: inputs.node')).toEqual([]);
    expect(outsideReferences('gcc -o "$CONTEXT_DIR/pause" "$HERE/pause.c"')).toEqual([]);
  });

  it('changes when any file of a recipe changes, in content or executable bit, and for every image built on it', async () => {
    const before = await hashesOf();
    const recipes = await loadRecipes(root, path.join(root, '.build'));
    let checked = 0;
    for (const r of recipes.values()) {
      const dependents = [...recipes.values()]
        .filter((o) => buildOrder(recipes, [o.name]).some((d) => d.name === r.name))
        .map((o) => o.name);
      for (const file of walk(r.dir)) {
        const abs = path.join(r.dir, file);
        const original = readFileSync(abs);
        appendFileSync(abs, '\n');
        const edited = await hashesOf();
        writeFileSync(abs, original);
        for (const name of dependents)
          expect(edited.get(name), `editing images/${r.name}/${file} must change the hash of ${name}`).not.toBe(before.get(name));
        checked++;
      }
      const script = path.join(r.dir, walk(r.dir)[0]!);
      const mode = statSync(script).mode;
      chmodSync(script, mode ^ 0o111);
      const flipped = await hashesOf();
      chmodSync(script, mode);
      expect(flipped.get(r.name), `the executable bit of ${script}`).not.toBe(before.get(r.name));
    }
    expect(checked).toBeGreaterThan(20);
    expect(await hashesOf()).toEqual(before);
  });

  it('leaves out the documentation, which no Dockerfile or build script reads', async () => {
    const before = await hashesOf();
    const recipes = await loadRecipes(root, path.join(root, '.build'));
    const docs = [...recipes.values()].flatMap((r) =>
      walk(r.dir, '', true)
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(r.dir, f)),
    );
    expect(docs.length).toBeGreaterThan(3);
    for (const doc of docs) appendFileSync(doc, '\nedited\n');
    expect(await hashesOf()).toEqual(before);
    // What would make that unsafe: a build step naming a *.md of its recipe (comments aside).
    for (const r of recipes.values()) {
      for (const file of walk(r.dir).filter((f) => /(^|\/)(Dockerfile|[^/]*\.sh)$/.test(f))) {
        const code = readFileSync(path.join(r.dir, file), 'utf8')
          .split('\n')
          .filter((l) => !/^\s*#/.test(l))
          .map((l) => l.replace(/\s#.*$/, ''));
        // CHANGELOG.md is the installed package's own file, copied inside the image.
        expect(
          code.filter((l) => /\.md\b/.test(l) && !/CHANGELOG\.md/.test(l)),
          `images/${r.name}/${file}`,
        ).toEqual([]);
      }
    }
  });
});

describe('build scheduling (two images at a time)', () => {
  // Each fake build takes `ms` and records when it ran.
  const items = [
    { name: 'base', deps: [], ms: 20, weight: 40 },
    { name: 'k3s', deps: ['base'], ms: 120, weight: 1560 },
    { name: 'litellm', deps: ['base'], ms: 40, weight: 240 },
    { name: 'open-webui', deps: ['base'], ms: 40, weight: 150 },
    { name: 'pause', deps: [], ms: 10, weight: 2 },
  ];
  const schedule = (jobs: number) => ({
    key: (i: (typeof items)[number]) => i.name,
    deps: (i: (typeof items)[number]) => i.deps,
    weight: (i: (typeof items)[number]) => i.weight,
    jobs,
  });

  it('starts an image only after its dependencies, never more than `jobs` at once, the heaviest ready one first', async () => {
    const spans = new Map<string, [number, number]>();
    const startOrder: string[] = [];
    const finishOrder: string[] = [];
    let running = 0;
    let peak = 0;
    const t0 = Date.now();
    const results = await runInDependencyOrder(items, schedule(2), async (i) => {
      running++;
      peak = Math.max(peak, running);
      startOrder.push(i.name);
      const start = Date.now() - t0;
      await new Promise((r) => setTimeout(r, i.ms));
      spans.set(i.name, [start, Date.now() - t0]);
      finishOrder.push(i.name);
      running--;
      return i.name.toUpperCase();
    });
    expect(results).toEqual(['BASE', 'K3S', 'LITELLM', 'OPEN-WEBUI', 'PAUSE']); // the items' order, not the finishing order
    expect(peak).toBe(2);
    for (const app of ['k3s', 'litellm', 'open-webui']) expect(spans.get(app)![0]).toBeGreaterThanOrEqual(spans.get('base')![1]);
    // k3s, the heaviest, starts as soon as base is done; the apps are built while it compiles.
    expect(startOrder).toEqual(['base', 'pause', 'k3s', 'litellm', 'open-webui']);
    // (by order, not by clock: under load both timers may fire in the same millisecond)
    expect(finishOrder.indexOf('open-webui')).toBeLessThan(finishOrder.indexOf('k3s'));
  });

  it('starts what the heaviest chain waits for first, before a heavier build nothing waits on', async () => {
    // A cold run: base (40 s) heads the node image's 26 min; a Go fixture (150 s) heads nothing.
    const chainItems = [
      { name: 'kube-state-metrics', deps: [], ms: 0, weight: 150 },
      { name: 'base', deps: [], ms: 0, weight: 40 },
      { name: 'k3s', deps: ['base'], ms: 0, weight: 1560 },
      { name: 'pause', deps: [], ms: 0, weight: 2 },
    ];
    const order: string[] = [];
    await runInDependencyOrder(chainItems, { ...schedule(1), deps: (i) => i.deps, weight: (i) => i.weight }, async (i) => {
      order.push(i.name);
    });
    expect(order).toEqual(['base', 'k3s', 'kube-state-metrics', 'pause']);
  });

  it('one at a time with jobs = 1', async () => {
    let running = 0;
    let peak = 0;
    await runInDependencyOrder(items, schedule(1), async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
    });
    expect(peak).toBe(1);
  });

  it('after a failure starts nothing new, lets the running build finish, then throws the first error', async () => {
    const ran: string[] = [];
    let finished = '';
    const run = runInDependencyOrder(items, schedule(2), async (i) => {
      ran.push(i.name);
      if (i.name === 'litellm') throw new Error('litellm: prepare failed');
      await new Promise((r) => setTimeout(r, i.ms));
      finished += i.name;
    });
    await expect(run).rejects.toThrow('litellm: prepare failed');
    expect(ran).not.toContain('open-webui'); // its turn came after the failure
    expect(finished).toContain('k3s'); // the build already running was not abandoned half-way
  });

  it('names the items whose dependencies never finish (a cycle)', async () => {
    const cyclic = [
      { name: 'a', deps: ['b'], ms: 0, weight: 0 },
      { name: 'b', deps: ['a'], ms: 0, weight: 0 },
    ];
    await expect(runInDependencyOrder(cyclic, schedule(2), async () => {})).rejects.toThrow(/cycle .*a, b/);
  });

  it('CHATSTACK_IMAGE_JOBS sets the number of builds at once and refuses nonsense', () => {
    expect(buildJobs({})).toBe(2);
    expect(buildJobs({ CHATSTACK_IMAGE_JOBS: '1' })).toBe(1);
    expect(() => buildJobs({ CHATSTACK_IMAGE_JOBS: 'two' })).toThrow(/CHATSTACK_IMAGE_JOBS must be a whole number/);
    expect(() => buildJobs({ CHATSTACK_IMAGE_JOBS: '0' })).toThrow(/CHATSTACK_IMAGE_JOBS/);
  });
});
