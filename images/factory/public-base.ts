// Upstream mode's builds: a recipe's Dockerfile on the public base images its ARGs name by
// default (`ARG NODE_IMAGE=node:22.23.3-bookworm-slim`), pulled through the registry mirror when
// one is set. Nothing is compiled or debootstrapped, no prepare.sh runs and no dependency is
// built, so `docker build` does it anywhere (Docker Desktop on macOS, a non-root docker group
// member). The hermetic factory (build.ts) builds the same Dockerfile with its own bases instead.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { dockerTry, imageInfo } from '../../lib/docker.ts';
import { BUILD_DIR } from '../../lib/paths.ts';
import { mirroredRef, pullUpstream, configuredMirrors } from '../../lib/registry-mirror.ts';
import { secondsSince } from '../../lib/time.ts';
import { ImageBuildError, runLogged, withImageLock, type EnsureResult } from './build.ts';
import { IMAGE_NAME_LABEL, loadRecipes, RECIPE_HASH_LABEL, recipeHashes, type Recipe } from './recipes.ts';

/** Label on an image built by this module: the public base images it was built on. */
export const PUBLIC_BASE_LABEL = 'dev.chat-stack.public-base';

/** The `ARG NAME=default` lines of a Dockerfile that a FROM line uses: the public bases. */
export function publicBases(dockerfile: string): Record<string, string> {
  const defaults = Object.fromEntries(
    [...dockerfile.matchAll(/^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S+))?\s*$/gm)].map((m) => [m[1]!, m[2] ?? '']),
  );
  const out: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^\s*FROM\s+(\S+)/gim)) {
    const ref = m[1]!;
    const arg = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(ref)?.[1];
    if (arg === undefined) out[ref] = ref;
    else if (defaults[arg]) out[arg] = defaults[arg];
    else throw new Error(`FROM ${ref}: ARG ${arg} has no default, so the Dockerfile names no public base image`);
  }
  return out;
}

/** Why a recipe cannot be built on public bases, or undefined when it can. */
export async function publicBaseRefusal(recipe: Recipe): Promise<string | undefined> {
  if (!recipe.hasDockerfile) return 'it has no Dockerfile';
  if (recipe.hasPrepare) return 'its prepare.sh builds on this machine';
  try {
    publicBases(await readFile(path.join(recipe.dir, 'Dockerfile'), 'utf8'));
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * Makes sure each named recipe's image exists, built on its public bases (see the top): up to date
 * when its labels say so. `log` says for each which public image it was built on.
 */
export async function ensureOnPublicBases(
  names: string[],
  opts: { log?: (line: string) => void; buildDir?: string; pullTimeoutMs?: number } = {},
): Promise<(EnsureResult & { publicBases: string[] })[]> {
  const log = opts.log ?? ((l: string) => console.log(`images: ${l}`));
  const recipes = await loadRecipes();
  const results: (EnsureResult & { publicBases: string[] })[] = [];
  for (const name of names) {
    const recipe = recipes.get(name);
    if (!recipe) throw new Error(`no image recipe images/${name}`);
    const refused = await publicBaseRefusal(recipe);
    if (refused) throw new ImageBuildError(name, 'docker build', `cannot be built on public base images: ${refused}`, '');
    const bases = Object.values(publicBases(await readFile(path.join(recipe.dir, 'Dockerfile'), 'utf8')));
    // Its files and inputs, not its hermetic dependencies: those are not what it is built on here.
    const own = (await recipeHashes([{ ...recipe, dependsOn: [] }])).get(name)!;
    const hash = createHash('sha256')
      .update(`${own}\npublic-bases ${bases.join(' ')}\n`)
      .digest('hex');
    results.push(
      await withImageLock(opts.buildDir ?? BUILD_DIR, name, log, async () => {
        const before = await imageInfo(recipe.ref);
        if (before?.labels[RECIPE_HASH_LABEL] === hash) {
          log(`${name}: up to date (${recipe.ref}, on ${bases.join(', ')})`);
          return { name, ref: recipe.ref, hash, status: 'up-to-date' as const, seconds: 0, sizeBytes: before.size, publicBases: bases };
        }
        const t0 = Date.now();
        const mirrors = configuredMirrors();
        for (const base of bases) {
          if (await imageInfo(base)) continue;
          log(`${name}: pulling its public base ${base}${mirroredRef(base, mirrors) === base ? '' : ` as ${mirroredRef(base, mirrors)}`}`);
          const pull = await pullUpstream(base, opts.pullTimeoutMs ?? 15 * 60_000, mirrors);
          if (pull.code !== 0) throw new ImageBuildError(name, 'docker build', `pulling ${pull.from}: ${pull.stderr}`, '');
        }
        // The context: the recipe directory with its symlinks resolved (the sources it packages).
        const context = path.join(opts.buildDir ?? BUILD_DIR, `${name}-public`);
        await rm(context, { recursive: true, force: true });
        await mkdir(path.dirname(context), { recursive: true });
        await cp(recipe.dir, context, { recursive: true, dereference: true });
        log(`${name}: docker build on the public base ${bases.join(', ')} (upstream mode: nothing compiled)`);
        const labels = [`${RECIPE_HASH_LABEL}=${hash}`, `${IMAGE_NAME_LABEL}=${name}`, `${PUBLIC_BASE_LABEL}=${bases.join(',')}`];
        const args = ['build', '--force-rm', '-t', recipe.ref, ...labels.flatMap((l) => ['--label', l]), context];
        const res = await runLogged('docker', args, {
          cwd: context,
          env: { ...process.env, DOCKER_BUILDKIT: '0' },
          verbose: false,
          onHeartbeat: () => log(`${name}: docker build still running (${secondsSince(t0)}s)`),
        });
        await rm(context, { recursive: true, force: true });
        if (res.code !== 0)
          throw new ImageBuildError(name, 'docker build', res.error?.message ?? `docker exited with ${res.code}`, res.tail);
        const after = (await imageInfo(recipe.ref))!;
        // An earlier public-base build goes; a hermetic build under the same name stays (a run that
        // holds it under another tag, as npm run test:mirror does, gets it back).
        if (before && before.id !== after.id && before.labels[PUBLIC_BASE_LABEL]) await dockerTry('image', 'rm', before.id);
        const seconds = secondsSince(t0);
        log(`${name}: built ${recipe.ref} in ${seconds}s on ${bases.join(', ')}`);
        return { name, ref: recipe.ref, hash, status: 'built' as const, seconds, sizeBytes: after.size, publicBases: bases };
      }),
    );
  }
  return results;
}
