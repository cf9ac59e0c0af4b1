// Builds the recipes (images/<name>/) that are missing or stale, dependencies first, with no
// registry: a build is skipped when the local image's recipe-hash label equals the recipe hash.
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dockerTry, imageInfo } from '../../lib/docker.ts';
import { BUILD_DIR } from '../../lib/paths.ts';
import {
  buildOrder,
  IMAGE_NAME_LABEL,
  IMAGES_DIR,
  loadRecipes,
  RECIPE_HASH_LABEL,
  recipeHashes,
  recipeVars,
  type Recipe,
} from './recipes.ts';
import { secondsSince } from '../../lib/time.ts';

const TAIL_LINES = 40;
const HEARTBEAT_MS = 60_000;
const LOCK_WAIT_MS = 3 * 60 * 60_000;

/**
 * Cold build times on a 2-core machine (docs/performance.md, Figures), so a first run can say up front how
 * long it will take instead of looking hung. Warm rebuilds reuse the Go and wheel caches.
 */
export const TYPICAL_COLD_SECONDS: Record<string, number> = {
  base: 40,
  pause: 2,
  ryuk: 40,
  'fake-anthropic': 10,
  k3s: 26 * 60,
  litellm: 4 * 60,
  'open-webui': 150,
  // the earlier releases share most wheels with the current ones (downloaded once)
  'litellm-previous': 90,
  'open-webui-previous': 90,
  'base-trixie': 35,
  postgres: 35,
  redis: 10,
  dex: 120,
  pgbouncer: 15,
  // test fixtures compiled from Go modules (measured beside the node image on a fresh machine)
  prometheus: 240,
  'otel-collector': 120,
  'kube-state-metrics': 150,
  // crane alone, into an empty GOCACHE: 43 s of compile on 2 cores, plus module download and docker build
  registry: 50,
};

export interface EnsureOptions {
  /** Rebuild these images (true: every image requested) even when their hash matches. */
  force?: boolean | string[];
  /** Stream prepare/build output live instead of only showing its tail on failure. */
  verbose?: boolean;
  /** Progress lines (default: console.log with an `images:` prefix). */
  log?: (line: string) => void;
  imagesDir?: string;
  buildDir?: string;
  /**
   * Builds at once (default CHATSTACK_IMAGE_JOBS, else 2). Two fit a 2-core machine: the node
   * image's Go compile keeps the cores busy while an app image mostly downloads and unpacks.
   */
  jobs?: number;
}

export interface EnsureResult {
  name: string;
  ref: string;
  hash: string;
  status: 'built' | 'up-to-date';
  /** seconds spent on this image (0 when up to date) */
  seconds: number;
  /** image size in bytes as reported by `docker image inspect` */
  sizeBytes: number;
}

export type BuildStep = 'prepare' | 'docker build' | 'docker import';

export class ImageBuildError extends Error {
  readonly image: string;
  readonly step: BuildStep;
  readonly tail: string;
  constructor(image: string, step: BuildStep, detail: string, tail: string) {
    super(`image ${image}: ${step} failed: ${detail}${tail ? `\n--- last output of ${step} ---\n${tail}` : ''}`);
    this.name = 'ImageBuildError';
    this.image = image;
    this.step = step;
    this.tail = tail;
  }
}

export interface PlannedImage {
  recipe: Recipe;
  hash: string;
  /** why it will be built, or undefined when it is up to date */
  why?: 'missing' | 'recipe changed' | 'forced';
}

/** What ensureImages would do for `names` (default: every recipe), dependencies first; builds nothing. */
export async function planImages(
  names: string[] = [],
  options: Pick<EnsureOptions, 'force' | 'imagesDir' | 'buildDir'> = {},
): Promise<PlannedImage[]> {
  const recipes = await loadRecipes(options.imagesDir ?? IMAGES_DIR, options.buildDir ?? BUILD_DIR);
  const order = buildOrder(recipes, names.length ? names : undefined);
  const requested = new Set(names.length ? names : order.map((r) => r.name));
  const forced = (name: string) =>
    Array.isArray(options.force) ? options.force.includes(name) : options.force === true && requested.has(name);
  const hashes = await recipeHashes(order);
  return Promise.all(
    order.map(async (recipe): Promise<PlannedImage> => {
      const hash = hashes.get(recipe.name)!;
      const local = await imageInfo(recipe.ref);
      const why = !local
        ? 'missing'
        : forced(recipe.name)
          ? 'forced'
          : local.labels[RECIPE_HASH_LABEL] !== hash
            ? 'recipe changed'
            : undefined;
      return { recipe, hash, why };
    }),
  );
}

/** One line announcing the builds of a plan and their typical cold duration, or undefined when none. */
export function describePlan(plan: PlannedImage[]): string | undefined {
  const todo = plan.filter((p) => p.why);
  if (todo.length === 0) return undefined;
  const minutes = (s: number) => (s < 90 ? `${s} s` : `${Math.round(s / 60)} min`);
  const cold = todo.map((p) => TYPICAL_COLD_SECONDS[p.recipe.name] ?? 60);
  // built two at a time: about the sum over the builds at once, never less than the longest
  const total = Math.round(Math.max(...cold, cold.reduce((n, s) => n + s, 0) / buildJobs()));
  const each = todo.map((p, i) => `${p.recipe.name} (${p.why}, cold ~${minutes(cold[i]!)})`);
  return `building ${todo.length} image(s) from package registries: ${each.join(', ')}. A cold build takes about ${minutes(total)} on 2 cores (less with warm caches); progress follows.`;
}

export interface RunResult {
  code: number | null;
  tail: string;
  error?: Error;
}

/** Runs a long build command, keeping the tail of its output and a heartbeat; never throws. */
export function runLogged(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; verbose: boolean; onHeartbeat: () => void },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const lines: string[] = [];
    let partial = '';
    const keep = (chunk: Buffer) => {
      if (opts.verbose) process.stderr.write(chunk);
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length > 4 * TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
    };
    const tail = () =>
      [...lines, partial]
        .filter((l) => l !== '')
        .slice(-TAIL_LINES)
        .join('\n');
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const heartbeat = setInterval(opts.onHeartbeat, HEARTBEAT_MS);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      resolve({ code: null, tail: tail(), error });
    });
    child.on('close', (code) => {
      clearInterval(heartbeat);
      resolve({ code, tail: tail() });
    });
  });
}

/** Holds an exclusive, cross-process lock on one image (a directory with the holder's pid) while fn runs. */
export async function withImageLock<T>(buildDir: string, name: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const lockDir = path.join(buildDir, `.lock-${name}`);
  await mkdir(buildDir, { recursive: true });
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (pid) process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        alive = false;
      }
      // A lock without pid may be one being created right now: only a dead holder is stale.
      if (pid && !alive) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) throw new Error(`image build lock ${lockDir} still held by pid ${pid || '?'}`);
      if (!announced) log(`${name}: waiting for another process building it (pid ${pid || '?'}, lock ${lockDir})`);
      announced = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

async function buildOne(
  recipe: Recipe,
  recipes: Map<string, Recipe>,
  hash: string,
  opts: Required<Pick<EnsureOptions, 'verbose' | 'log'>>,
) {
  const { log, verbose } = opts;
  const vars = recipeVars(recipe, recipes);
  const env = { ...process.env, ...vars, DOCKER_BUILDKIT: '0' };
  const t0 = Date.now();
  const heartbeat = (step: BuildStep) => () => log(`${recipe.name}: ${step} still running (${secondsSince(t0)}s)`);

  // Fresh context: a copy of the recipe directory (symlinks resolved), then whatever prepare.sh adds.
  await rm(recipe.contextDir, { recursive: true, force: true });
  await mkdir(path.dirname(recipe.contextDir), { recursive: true });
  await cp(recipe.dir, recipe.contextDir, { recursive: true, dereference: true });

  if (recipe.hasPrepare) {
    const t = Date.now();
    log(`${recipe.name}: prepare ...`);
    const res = await runLogged(path.join(recipe.dir, 'prepare.sh'), [], {
      cwd: recipe.dir,
      env,
      verbose,
      onHeartbeat: heartbeat('prepare'),
    });
    if (res.code !== 0)
      throw new ImageBuildError(recipe.name, 'prepare', res.error ? res.error.message : `prepare.sh exited with ${res.code}`, res.tail);
    log(`${recipe.name}: prepare done (${secondsSince(t)}s)`);
  }

  const labels = [`${RECIPE_HASH_LABEL}=${hash}`, `${IMAGE_NAME_LABEL}=${recipe.name}`];
  const t = Date.now();
  let step: BuildStep;
  let args: string[];
  if (recipe.hasDockerfile) {
    step = 'docker build';
    const dockerfile = path.join(recipe.contextDir, 'Dockerfile');
    const declared = new Set([...(await readFile(dockerfile, 'utf8')).matchAll(/^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)/gim)].map((m) => m[1]));
    const buildArgs = Object.entries(vars)
      .filter(([k]) => declared.has(k))
      .flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
    args = [
      'build',
      '--force-rm',
      '-t',
      recipe.ref,
      ...labels.flatMap((l) => ['--label', l]),
      ...buildArgs,
      '-f',
      dockerfile,
      recipe.contextDir,
    ];
  } else {
    step = 'docker import';
    const rootfs = path.join(recipe.contextDir, 'rootfs.tar');
    if (!(await exists(rootfs)))
      throw new ImageBuildError(recipe.name, 'prepare', `no Dockerfile, and prepare.sh did not write ${rootfs}`, '');
    const changes = [...recipe.importChanges, ...labels.map((l) => `LABEL ${l}`)];
    args = [
      'import',
      ...changes.flatMap((c) => ['--change', c]),
      '--message',
      `chatstack recipe ${recipe.name} ${hash}`,
      rootfs,
      recipe.ref,
    ];
  }
  log(`${recipe.name}: ${step} ...`);
  const res = await runLogged('docker', args, { cwd: recipe.contextDir, env, verbose, onHeartbeat: heartbeat(step) });
  if (res.code !== 0)
    throw new ImageBuildError(recipe.name, step, res.error ? res.error.message : `docker exited with ${res.code}`, res.tail);
  log(`${recipe.name}: ${step} done (${secondsSince(t)}s)`);
}

/**
 * Makes sure the named images (default: every recipe) and their dependencies exist locally and
 * match their recipes, building what is missing or stale, dependencies first, after saying what
 * it will build. Returns one result per image in build order; throws ImageBuildError naming the
 * image and step.
 */
export async function ensureImages(names: string[] = [], options: EnsureOptions = {}): Promise<EnsureResult[]> {
  const log = options.log ?? ((line: string) => console.log(`images: ${line}`));
  const verbose = options.verbose ?? false;
  const buildDir = options.buildDir ?? BUILD_DIR;
  const plan = await planImages(names, options);
  const announce = describePlan(plan);
  if (announce) log(announce);
  const recipes = new Map(plan.map((p) => [p.recipe.name, p.recipe]));
  const ensureOne = ({ recipe, hash, why: planned }: PlannedImage) =>
    withImageLock(buildDir, recipe.name, log, async (): Promise<EnsureResult> => {
      // Looked at again under the lock: another process may have built it meanwhile.
      const before = await imageInfo(recipe.ref);
      const why =
        planned === 'forced' ? planned : !before ? 'missing' : before.labels[RECIPE_HASH_LABEL] !== hash ? 'recipe changed' : undefined;
      if (before && !why) {
        log(`${recipe.name}: up to date (${recipe.ref}, ${mb(before.size)})`);
        return { name: recipe.name, ref: recipe.ref, hash, status: 'up-to-date', seconds: 0, sizeBytes: before.size };
      }
      log(`${recipe.name}: building ${recipe.ref} (${why}, hash ${hash.slice(0, 12)})`);
      const t0 = Date.now();
      await buildOne(recipe, recipes, hash, { log, verbose });
      const after = await imageInfo(recipe.ref);
      if (!after || after.labels[RECIPE_HASH_LABEL] !== hash) {
        const step = recipe.hasDockerfile ? 'docker build' : 'docker import';
        throw new ImageBuildError(recipe.name, step, `${recipe.ref} lacks label ${RECIPE_HASH_LABEL}=${hash} after the build`, '');
      }
      if (before && before.id !== after.id) await dockerTry('image', 'rm', before.id); // best effort: drop the stale image
      const seconds = secondsSince(t0);
      log(`${recipe.name}: built ${recipe.ref} in ${seconds}s (${mb(after.size)})`);
      return { name: recipe.name, ref: recipe.ref, hash, status: 'built', seconds, sizeBytes: after.size };
    });
  // Live output of two builds would interleave line by line: verbose builds one at a time.
  const jobs = verbose ? 1 : (options.jobs ?? buildJobs());
  // The longest chains start first (the node image and its base are the critical path of a cold run).
  const weight = (p: PlannedImage) => (p.why ? (TYPICAL_COLD_SECONDS[p.recipe.name] ?? 60) : 0);
  return runInDependencyOrder(plan, { key: (p) => p.recipe.name, deps: (p) => p.recipe.dependsOn, weight, jobs }, ensureOne);
}

/** CHATSTACK_IMAGE_JOBS, else 2: see EnsureOptions.jobs. */
export function buildJobs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['CHATSTACK_IMAGE_JOBS'];
  if (raw === undefined || raw === '') return 2;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`CHATSTACK_IMAGE_JOBS must be a whole number of builds at once (1 or more), not "${raw}"`);
  return n;
}

export interface Schedule<T> {
  key: (t: T) => string;
  /** keys this item waits for (keys not among the items are taken as done) */
  deps: (t: T) => string[];
  /**
   * an item's own cost; among ready items the one heading the costliest chain starts first (its
   * weight plus the heaviest chain of items waiting on it: the critical path); ties keep the
   * items' order
   */
  weight: (t: T) => number;
  jobs: number;
}

/**
 * Runs `run` on every item once its dependencies have finished, at most `jobs` at a time;
 * resolves to the results in the items' order. After a failure nothing new starts; the runs
 * already going finish, then the first error is thrown.
 */
export async function runInDependencyOrder<T, R>(
  items: T[],
  { key, deps, weight, jobs }: Schedule<T>,
  run: (t: T) => Promise<R>,
): Promise<R[]> {
  const index = new Map(items.map((t, i) => [key(t), i]));
  // A cold run's node image waits for the base image: base must not queue behind a fixture that
  // merely weighs more on its own (2026-12-07: the node started 133 s late that way).
  const waiting = new Map<string, T[]>();
  for (const t of items) for (const d of deps(t)) waiting.set(d, [...(waiting.get(d) ?? []), t]);
  const chain = new Map<string, number>();
  const priority = (t: T, seen: Set<string> = new Set()): number => {
    const k = key(t);
    const known = chain.get(k);
    if (known !== undefined) return known;
    if (seen.has(k)) return weight(t); // a cycle: reported below, once nothing can start
    seen.add(k);
    const p = weight(t) + Math.max(0, ...(waiting.get(k) ?? []).map((w) => priority(w, seen)));
    seen.delete(k);
    chain.set(k, p);
    return p;
  };
  const results: R[] = new Array(items.length);
  const done = new Set<string>();
  const started = new Set<number>();
  let running = 0;
  let failure: { error: unknown } | undefined;
  return new Promise((resolve, reject) => {
    const pump = () => {
      if (failure) {
        if (running === 0) reject(failure.error);
        return;
      }
      if (done.size === items.length) return resolve(results);
      const ready = items
        .map((item, i) => ({ item, i }))
        .filter(({ item, i }) => !started.has(i) && deps(item).every((d) => !index.has(d) || done.has(d)))
        .sort((a, b) => priority(b.item) - priority(a.item) || a.i - b.i);
      for (const { item, i } of ready.slice(0, Math.max(0, jobs - running))) {
        started.add(i);
        running++;
        run(item)
          .then(
            (r) => {
              results[i] = r;
              done.add(key(item));
            },
            (error: unknown) => {
              failure ??= { error };
            },
          )
          .finally(() => {
            running--;
            pump();
          });
      }
      if (running === 0 && !failure && done.size < items.length)
        reject(
          new Error(
            `image dependencies form a cycle or name no recipe among: ${items
              .filter((_, i) => !started.has(i))
              .map(key)
              .join(', ')}`,
          ),
        );
    };
    pump();
  });
}

/** The local reference of one recipe's image, built first if missing or stale. */
export async function ensureImage(name: string, options: EnsureOptions = {}): Promise<EnsureResult> {
  const result = (await ensureImages([name], options)).find((r) => r.name === name);
  if (!result) throw new Error(`image recipe ${name} produced no image`);
  return result;
}
