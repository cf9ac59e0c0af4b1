// Local image builds with no registry: every image is a recipe directory `images/<name>/`,
// built in dependency order and tagged `chatstack.local/<name>:<tag>`. A build is skipped when the
// local image's `chatstack.recipe-hash` label equals the recipe hash (files of the recipe
// directory + image.json inputs + the hashes of its dependencies). See images/README.md.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './kustomize.ts';

export const IMAGE_PREFIX = 'chatstack.local';
export const RECIPE_HASH_LABEL = 'chatstack.recipe-hash';
export const IMAGE_NAME_LABEL = 'chatstack.image';
export { REPO_ROOT };
export const IMAGES_DIR = path.join(REPO_ROOT, 'images');
export const BUILD_DIR = path.join(REPO_ROOT, '.build');

// Bump to invalidate every recipe hash when the build procedure itself changes.
const HASH_SCHEME = 'chatstack-images/1';
// Files of a recipe directory that do not go into its hash (tests do not change the image).
const UNHASHED = [/\.test\.ts$/];
const TAIL_LINES = 40;
const HEARTBEAT_MS = 60_000;
const LOCK_WAIT_MS = 3 * 60 * 60_000;

export type InputValue = string | number | boolean;

export interface ImageJson {
  name: string;
  tag: string;
  dependsOn?: string[];
  inputs?: Record<string, InputValue>;
  /** Only for recipes without a Dockerfile: `docker import --change` instructions. */
  import?: { changes?: string[] };
}

export interface Recipe {
  name: string;
  tag: string;
  /** `chatstack.local/<name>:<tag>` */
  ref: string;
  /** absolute path of images/<name>/ */
  dir: string;
  /** absolute path of .build/<name>/ (the docker build context) */
  contextDir: string;
  dependsOn: string[];
  inputs: Record<string, InputValue>;
  importChanges: string[];
  hasDockerfile: boolean;
  hasPrepare: boolean;
}

export interface EnsureOptions {
  /** Rebuild these images (true: every image requested) even when their hash matches. */
  force?: boolean | string[];
  /** Stream prepare/build output live instead of only showing its tail on failure. */
  verbose?: boolean;
  /** Progress lines (default: console.log with an `images:` prefix). */
  log?: (line: string) => void;
  imagesDir?: string;
  buildDir?: string;
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

export function imageRef(name: string, tag: string): string {
  return `${IMAGE_PREFIX}/${name}:${tag}`;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** Reads every `images/<name>/image.json`. */
export async function loadRecipes(imagesDir = IMAGES_DIR, buildDir = BUILD_DIR): Promise<Map<string, Recipe>> {
  const recipes = new Map<string, Recipe>();
  const entries = await readdir(imagesDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = path.join(imagesDir, entry.name);
    const jsonPath = path.join(dir, 'image.json');
    if (!(await exists(jsonPath))) continue;
    let json: ImageJson;
    try {
      json = JSON.parse(await readFile(jsonPath, 'utf8')) as ImageJson;
    } catch (err) {
      throw new Error(`${jsonPath}: ${(err as Error).message}`);
    }
    if (json.name !== entry.name) throw new Error(`${jsonPath}: "name" is ${JSON.stringify(json.name)}, expected "${entry.name}"`);
    if (typeof json.tag !== 'string' || !/^[\w][\w.-]{0,127}$/.test(json.tag)) throw new Error(`${jsonPath}: invalid "tag"`);
    const hasDockerfile = await exists(path.join(dir, 'Dockerfile'));
    const hasPrepare = await exists(path.join(dir, 'prepare.sh'));
    if (!hasDockerfile && !hasPrepare) throw new Error(`${dir}: needs a Dockerfile or a prepare.sh that writes rootfs.tar`);
    recipes.set(json.name, {
      name: json.name,
      tag: json.tag,
      ref: imageRef(json.name, json.tag),
      dir,
      contextDir: path.join(buildDir, json.name),
      dependsOn: json.dependsOn ?? [],
      inputs: json.inputs ?? {},
      importChanges: json.import?.changes ?? [],
      hasDockerfile,
      hasPrepare,
    });
  }
  return recipes;
}

/** The requested images and their dependencies, dependencies first. Throws on unknown names and cycles. */
export function buildOrder(recipes: Map<string, Recipe>, names?: string[]): Recipe[] {
  const order: Recipe[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, from: string[]) => {
    const recipe = recipes.get(name);
    if (!recipe) {
      const via = from.length ? ` (dependency of ${from.at(-1)})` : '';
      throw new Error(`no image recipe "${name}"${via}: expected images/${name}/image.json; known: ${[...recipes.keys()].join(', ')}`);
    }
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`dependency cycle: ${[...from, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const dep of recipe.dependsOn) visit(dep, [...from, name]);
    state.set(name, 'done');
    order.push(recipe);
  };
  for (const name of names ?? [...recipes.keys()]) visit(name, []);
  return order;
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, p)));
    else if (!UNHASHED.some((re) => re.test(p))) out.push(p);
  }
  return out.sort();
}

/** Recipe hashes for every recipe in `order` (dependencies must come first, as buildOrder gives them). */
export async function recipeHashes(order: Recipe[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const r of order) {
    const h = createHash('sha256').update(`${HASH_SCHEME}\n`);
    for (const file of await listFiles(r.dir)) {
      const abs = path.join(r.dir, file);
      const mode = (await stat(abs)).mode & 0o111 ? 'x' : '-';
      const content = createHash('sha256').update(await readFile(abs)).digest('hex');
      h.update(`file ${file} ${mode} ${content}\n`);
    }
    h.update(`inputs ${JSON.stringify(Object.entries(r.inputs).sort(([a], [b]) => a.localeCompare(b)))}\n`);
    for (const dep of [...r.dependsOn].sort()) {
      const depHash = hashes.get(dep);
      if (!depHash) throw new Error(`recipeHashes: ${r.name} depends on ${dep}, which is not earlier in the order`);
      h.update(`dep ${dep} ${depHash}\n`);
    }
    hashes.set(r.name, h.digest('hex'));
  }
  return hashes;
}

interface RunResult {
  code: number | null;
  tail: string;
  error?: Error;
}

/** Runs a command, keeping the tail of its combined output; never throws. */
function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; verbose: boolean; onHeartbeat: () => void }): Promise<RunResult> {
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
    const tail = () => [...lines, partial].filter((l) => l !== '').slice(-TAIL_LINES).join('\n');
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

async function docker(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => resolve({ code: null, stdout, stderr: String(e) }));
    child.on('close', (code) => resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() }));
  });
}

interface LocalImage {
  id: string;
  hash: string;
  size: number;
}

/** Whether `ref` is in the local Docker (any image, ours or upstream). */
export async function localImageExists(ref: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
}

/** The local image `ref` (id, recipe-hash label, size), or undefined when it does not exist. */
export async function inspectLocalImage(ref: string): Promise<LocalImage | undefined> {
  const res = await docker(['image', 'inspect', '--format', `{{.Id}} {{index .Config.Labels "${RECIPE_HASH_LABEL}"}} {{.Size}}`, ref]);
  if (res.code !== 0) {
    if (/no such image/i.test(res.stderr)) return undefined;
    throw new Error(`docker image inspect ${ref} failed: ${res.stderr || 'is the Docker Engine running? (bash dev/engine.sh)'}`);
  }
  const [id = '', hash = '', size = '0'] = res.stdout.split(' ');
  return { id, hash: hash === '<no value>' ? '' : hash, size: Number(size) };
}

/** Env-var spelling of an input or image name: `securityMirror` -> `SECURITY_MIRROR`. */
export function envName(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/** Variables a recipe sees: in prepare.sh's env, and as build args when its Dockerfile declares them. */
export function recipeVars(recipe: Recipe, recipes: Map<string, Recipe>): Record<string, string> {
  const vars: Record<string, string> = {
    IMAGE_NAME: recipe.name,
    IMAGE_TAG: recipe.tag,
    IMAGE_REF: recipe.ref,
    RECIPE_DIR: recipe.dir,
    CONTEXT_DIR: recipe.contextDir,
  };
  for (const dep of recipe.dependsOn) {
    const ref = recipes.get(dep)?.ref;
    if (!ref) continue;
    vars[`${envName(dep)}_IMAGE`] = ref;
  }
  for (const [k, v] of Object.entries(recipe.inputs)) vars[`INPUT_${envName(k)}`] = typeof v === 'string' ? v : JSON.stringify(v);
  return vars;
}

/** Holds an exclusive, cross-process lock on one image (a directory with the holder's pid) while fn runs. */
async function withImageLock<T>(buildDir: string, name: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
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

const secs = (ms: number) => Math.round(ms / 100) / 10;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function buildOne(recipe: Recipe, recipes: Map<string, Recipe>, hash: string, opts: Required<Pick<EnsureOptions, 'verbose' | 'log'>>) {
  const { log, verbose } = opts;
  const vars = recipeVars(recipe, recipes);
  const env = { ...process.env, ...vars, DOCKER_BUILDKIT: '0' };
  const t0 = Date.now();
  const heartbeat = (step: BuildStep) => () => log(`${recipe.name}: ${step} still running (${secs(Date.now() - t0)}s)`);

  // Fresh context: a copy of the recipe directory, then whatever prepare.sh adds.
  await rm(recipe.contextDir, { recursive: true, force: true });
  await mkdir(path.dirname(recipe.contextDir), { recursive: true });
  await cp(recipe.dir, recipe.contextDir, { recursive: true });

  if (recipe.hasPrepare) {
    const t = Date.now();
    log(`${recipe.name}: prepare ...`);
    const res = await run(path.join(recipe.dir, 'prepare.sh'), [], { cwd: recipe.dir, env, verbose, onHeartbeat: heartbeat('prepare') });
    if (res.code !== 0) throw new ImageBuildError(recipe.name, 'prepare', res.error ? res.error.message : `prepare.sh exited with ${res.code}`, res.tail);
    log(`${recipe.name}: prepare done (${secs(Date.now() - t)}s)`);
  }

  const labels = [`${RECIPE_HASH_LABEL}=${hash}`, `${IMAGE_NAME_LABEL}=${recipe.name}`];
  const t = Date.now();
  let step: BuildStep;
  let args: string[];
  if (recipe.hasDockerfile) {
    step = 'docker build';
    const dockerfile = path.join(recipe.contextDir, 'Dockerfile');
    const declared = new Set([...(await readFile(dockerfile, 'utf8')).matchAll(/^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)/gim)].map((m) => m[1]));
    const buildArgs = Object.entries(vars).filter(([k]) => declared.has(k)).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
    args = ['build', '--force-rm', '-t', recipe.ref, ...labels.flatMap((l) => ['--label', l]), ...buildArgs, '-f', dockerfile, recipe.contextDir];
  } else {
    step = 'docker import';
    const rootfs = path.join(recipe.contextDir, 'rootfs.tar');
    if (!(await exists(rootfs))) throw new ImageBuildError(recipe.name, 'prepare', `no Dockerfile, and prepare.sh did not write ${rootfs}`, '');
    const changes = [...recipe.importChanges, ...labels.map((l) => `LABEL ${l}`)];
    args = ['import', ...changes.flatMap((c) => ['--change', c]), '--message', `chatstack recipe ${recipe.name} ${hash}`, rootfs, recipe.ref];
  }
  log(`${recipe.name}: ${step} ...`);
  const res = await run('docker', args, { cwd: recipe.contextDir, env, verbose, onHeartbeat: heartbeat(step) });
  if (res.code !== 0) throw new ImageBuildError(recipe.name, step, res.error ? res.error.message : `docker exited with ${res.code}`, res.tail);
  log(`${recipe.name}: ${step} done (${secs(Date.now() - t)}s)`);
}

/**
 * Makes sure the named images (default: every recipe) and their dependencies exist locally and
 * match their recipes, building what is missing or stale, dependencies first.
 * Returns one result per image in build order. Throws ImageBuildError naming the image and step.
 */
export async function ensureImages(names?: string[], options: EnsureOptions = {}): Promise<EnsureResult[]> {
  const log = options.log ?? ((line: string) => console.log(`images: ${line}`));
  const verbose = options.verbose ?? false;
  const buildDir = options.buildDir ?? BUILD_DIR;
  const recipes = await loadRecipes(options.imagesDir ?? IMAGES_DIR, buildDir);
  const order = buildOrder(recipes, names && names.length ? names : undefined);
  const requested = new Set(names && names.length ? names : order.map((r) => r.name));
  const forced = (name: string) => (Array.isArray(options.force) ? options.force.includes(name) : options.force === true && requested.has(name));

  const hashes = await recipeHashes(order);
  const results: EnsureResult[] = [];
  for (const recipe of order) {
    const hash = hashes.get(recipe.name) ?? '';
    const result = await withImageLock(buildDir, recipe.name, log, async (): Promise<EnsureResult> => {
      const before = await inspectLocalImage(recipe.ref);
      if (before && before.hash === hash && !forced(recipe.name)) {
        log(`${recipe.name}: up to date (${recipe.ref}, ${mb(before.size)})`);
        return { name: recipe.name, ref: recipe.ref, hash, status: 'up-to-date', seconds: 0, sizeBytes: before.size };
      }
      const why = !before ? 'missing' : forced(recipe.name) ? 'forced' : 'recipe changed';
      log(`${recipe.name}: building ${recipe.ref} (${why}, hash ${hash.slice(0, 12)})`);
      const t0 = Date.now();
      await buildOne(recipe, recipes, hash, { log, verbose });
      const after = await inspectLocalImage(recipe.ref);
      if (!after || after.hash !== hash) {
        const step = recipe.hasDockerfile ? 'docker build' : 'docker import';
        throw new ImageBuildError(recipe.name, step, `${recipe.ref} lacks label ${RECIPE_HASH_LABEL}=${hash} after the build`, '');
      }
      if (before && before.id !== after.id) await docker(['image', 'rm', before.id]); // best effort: drop the stale image
      const seconds = secs(Date.now() - t0);
      log(`${recipe.name}: built ${recipe.ref} in ${seconds}s (${mb(after.size)})`);
      return { name: recipe.name, ref: recipe.ref, hash, status: 'built', seconds, sizeBytes: after.size };
    });
    results.push(result);
  }
  return results;
}

/** `chatstack.local/<name>:<tag>` for a recipe, read from images/<name>/image.json (no build). */
export async function recipeImageRef(name: string, imagesDir = IMAGES_DIR): Promise<string> {
  const json = JSON.parse(await readFile(path.join(imagesDir, name, 'image.json'), 'utf8')) as ImageJson;
  return imageRef(json.name, json.tag);
}
