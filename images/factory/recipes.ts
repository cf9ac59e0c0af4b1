// Image recipes: every image is a directory `images/<name>/` with an image.json, built in
// dependency order and tagged `chatstack.local/<name>:<tag>`. Its recipe hash covers every file of
// the directory but tests and *.md (symlinks followed, so a shared source is linked in, never
// reached by `../`), the image.json inputs and the hashes of its dependencies. See images/README.md.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_DIR } from '../../lib/paths.ts';

export const IMAGE_PREFIX = 'chatstack.local';
export const RECIPE_HASH_LABEL = 'chatstack.recipe-hash';
export const IMAGE_NAME_LABEL = 'chatstack.image';
export const IMAGES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Bump to invalidate every recipe hash when the build procedure itself changes.
const HASH_SCHEME = 'chatstack-images/1';
// Files of a recipe directory that do not go into its hash: tests and documentation, which no
// build reads (recipes.test.ts checks that no Dockerfile or build script uses a *.md), so editing
// a recipe's README rebuilds nothing.
const UNHASHED = [/\.test\.ts$/, /\.md$/];

export type InputValue = string | number | boolean;

export interface ImageJson {
  name: string;
  tag: string;
  dependsOn?: string[];
  inputs?: Record<string, InputValue>;
  /** Only for recipes without a Dockerfile: `docker import --change` instructions. */
  import?: { changes?: string[] };
  /** Built only when asked for by name (e.g. the benchmark's load generator), not as part of "every image". */
  onDemand?: boolean;
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
  onDemand: boolean;
}

export function imageRef(name: string, tag: string): string {
  return `${IMAGE_PREFIX}/${name}:${tag}`;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

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
      onDemand: json.onDemand === true,
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
  // "Every image" leaves out the on-demand ones; asked for by name (or as a dependency) they build.
  for (const name of names ?? [...recipes.values()].filter((r) => !r.onDemand).map((r) => r.name)) visit(name, []);
  return order;
}

/** The files of a recipe directory that go into its hash, relative to it (symlinks followed). */
export async function recipeFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(path.join(dir, p))).isDirectory());
    if (isDir) out.push(...(await recipeFiles(dir, p)));
    else if (!UNHASHED.some((re) => re.test(p))) out.push(p);
  }
  return out.sort();
}

/** Recipe hashes for every recipe in `order` (dependencies must come first, as buildOrder gives them). */
export async function recipeHashes(order: Recipe[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const r of order) {
    const h = createHash('sha256').update(`${HASH_SCHEME}\n`);
    for (const file of await recipeFiles(r.dir)) {
      const abs = path.join(r.dir, file);
      const mode = (await stat(abs)).mode & 0o111 ? 'x' : '-';
      const content = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
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

/** `chatstack.local/<name>:<tag>` for a recipe, read from images/<name>/image.json (no build). */
export async function recipeImageRef(name: string, imagesDir = IMAGES_DIR): Promise<string> {
  const json = JSON.parse(await readFile(path.join(imagesDir, name, 'image.json'), 'utf8')) as ImageJson;
  return imageRef(json.name, json.tag);
}
