#!/usr/bin/env node
// npm run test:mirror: upstream mode as contributors run it behind a registry mirror (Harbor,
// Artifactory, a pull-through cache), proven here where no public registry is reachable. A local
// OCI registry (images/registry) is filled with this project's hermetic builds under their
// upstream names (rancher/k3s, the app images, the official Node image, Testcontainers' reaper,
// two of them as multi-platform indexes, as upstream publishes them), the local copies under
// those names are removed, and the smoke and mirror projects run with CHATSTACK_IMAGES=upstream
// and CHATSTACK_REGISTRY_MIRROR pointing at it: the mirror setting -> pull -> load -> pin -> the
// node pulling through its registries.yaml, for real. Upstream mode needs no root, so as root
// they run as a user in the docker group only (--user), from a copy of the checkout it owns.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseCommand } from '../lib/cli.ts';
import { docker, dockerTry, imageExists } from '../lib/docker.ts';
import { ensureEngine } from '../lib/engine.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { IMAGE_MODE_ENV } from '../dev/lib/image-mode.ts';
import { MIRROR_ENV, mirroredRef, parseMirrors } from '../lib/registry-mirror.ts';
import { secondsSince } from '../lib/time.ts';
import { ensureImages } from '../images/factory/build.ts';
import { loadRecipes, recipeImageRef } from '../images/factory/recipes.ts';
import { dockerPush, pushMultiPlatform, startRegistry, type StartedRegistry } from '../images/registry/fixture.ts';
import { MIRROR_PROBE, mirrorSetting } from './support/mirror.ts';

const { values: argv } = parseCommand({
  command: 'npm run test:mirror --',
  summary:
    'Runs the smoke and mirror projects in upstream mode through a local registry mirror that holds the hermetic images under their upstream names.',
  options: {
    user: {
      type: 'string',
      value: 'NAME',
      default: 'chatstack-mirror',
      help: 'as root: the non-root user the projects run as (created if missing, put in the docker group)',
    },
  },
});

const t0 = Date.now();
const log = (l: string) => console.log(`[mirror] ${l}`);

/** The recipes whose builds the mirror serves under their inputs.upstream; `index`: pushed as a multi-platform index. */
/** The hermetic fake upstream, kept aside while the run builds its own on the public base. */
const HERMETIC_KEEP = 'chatstack.local/fake-anthropic:hermetic-kept-by-test-mirror';

const SERVED: { recipe: string; index?: boolean }[] = [
  { recipe: 'k3s' },
  { recipe: 'litellm' },
  { recipe: 'open-webui' },
  { recipe: 'node', index: true },
  { recipe: 'ryuk' },
  { recipe: 'pause', index: true },
];

/** Runs a command with each output line tagged; resolves with its exit code. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<number> {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const)
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`mirror | ${line}\n`));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/** A copy of the checkout (tracked and new files, node_modules too) owned by `user`, a docker group member. */
async function checkoutFor(user: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new Error(`--user "${user}": expected a user name (lower case, digits, _ and -)`);
  if (!userExists(user)) {
    if ((await run('useradd', ['--create-home', '--shell', '/bin/bash', user], process.env, REPO_ROOT)) !== 0)
      throw new Error(`useradd ${user} failed`);
  }
  if ((await run('usermod', ['-aG', 'docker', user], process.env, REPO_ROOT)) !== 0) throw new Error(`usermod -aG docker ${user} failed`);
  const home = `/home/${user}`;
  const dir = join(home, 'chat-stack');
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); // an earlier run's copy
  mkdirSync(dir, { recursive: true });
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const f of files) cpSync(join(REPO_ROOT, f), join(dir, f), { recursive: true, verbatimSymlinks: true, force: true });
  cpSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  if ((await run('chown', ['-R', `${user}:${user}`, home], process.env, REPO_ROOT)) !== 0) throw new Error(`chown ${home} failed`);
  return dir;
}

let registry: StartedRegistry | undefined;
const served: { upstream: string; from: string; bytes: number }[] = [];
let code = 1;
try {
  await ensureEngine(log);
  const recipes = await loadRecipes();
  const built = await ensureImages(SERVED.map((s) => s.recipe).concat('registry', 'fake-anthropic'), { log: (l) => log(`images: ${l}`) });
  registry = await startRegistry();
  const mirrors = parseMirrors(mirrorSetting(registry.hostAddress));
  log(`registry ${registry.hostAddress} (${MIRROR_ENV}=${mirrorSetting(registry.hostAddress)})`);

  // Upstream mode builds the fake on the public base under the same name: keep the hermetic build.
  const fake = built.find((b) => b.name === 'fake-anthropic');
  if (fake) await docker('tag', fake.ref, HERMETIC_KEEP);

  let t = Date.now();
  for (const s of SERVED) {
    const upstream = String(recipes.get(s.recipe)!.inputs['upstream']);
    const local = built.find((b) => b.name === s.recipe)!.ref;
    const repoTag = mirroredRef(upstream, mirrors).slice(registry.hostAddress.length + 1);
    await dockerPush(registry, local, repoTag);
    if (s.index) await pushMultiPlatform(registry, repoTag);
    const manifest = await fetch(`http://${registry.hostAddress}/v2/${repoTag.replace(':', '/manifests/')}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    served.push({
      upstream,
      from: `${registry.hostAddress}/${repoTag}`,
      bytes: await compressedBytes(registry, repoTag, await manifest.json()),
    });
    // The run must pull it: no local copy under its upstream name.
    if (await imageExists(upstream)) await docker('rmi', upstream);
  }
  log(`filled the mirror in ${secondsSince(t)} s: ${served.map((s) => `${s.upstream} (${mb(s.bytes)})`).join(', ')}`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [IMAGE_MODE_ENV]: 'upstream',
    [MIRROR_ENV]: mirrorSetting(registry.hostAddress),
  };
  // This process's reaper is the local build (the registry's); the run pulls upstream's itself.
  delete env['RYUK_CONTAINER_IMAGE'];
  const vitestArgs = ['run', '--project', 'smoke', '--project', 'mirror', '--outputFile.junit=test-results/junit-mirror.xml'];
  t = Date.now();
  // Upstream mode needs no root: as root, the projects run as a user in the docker group only.
  if (process.getuid?.() === 0) {
    const user = argv.user;
    const dir = await checkoutFor(user);
    log(`running the projects as ${user} (not root; groups: ${runOut('id', ['-nG', user]).trim()}) in ${dir}`);
    const vars = Object.entries({
      [IMAGE_MODE_ENV]: 'upstream',
      [MIRROR_ENV]: env[MIRROR_ENV]!,
      HOME: `/home/${user}`,
      USER: user,
      PATH: process.env['PATH']!,
      CI: process.env['CI'] ?? '',
    }).map(([k, v]) => `${k}=${v}`);
    code = await run(
      'runuser',
      ['-u', user, '--', 'env', '-i', ...vars, join(dir, 'node_modules/.bin/vitest'), ...vitestArgs],
      process.env,
      dir,
    );
    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    cpSync(join(dir, 'test-results'), join(REPO_ROOT, 'test-results'), { recursive: true });
  } else {
    code = await run(join(REPO_ROOT, 'node_modules/.bin/vitest'), vitestArgs, env, REPO_ROOT);
  }
  const smoke = secondsSince(t);
  const pulled = [];
  for (const s of served) if (await imageExists(s.upstream)) pulled.push(s);
  log(
    `figures: smoke + mirror projects in upstream mode through the mirror: ${smoke} s; the harness pulled ${pulled.length} image(s), ${mb(pulled.reduce((n, s) => n + s.bytes, 0))} compressed (${pulled.map((s) => s.upstream).join(', ')}); the node pulled ${MIRROR_PROBE} through its registries.yaml`,
  );
} catch (err) {
  console.error(`npm run test:mirror: ${(err as Error).stack ?? String(err)}`);
  code = 1;
} finally {
  // Later runs in auto mode must not take these local copies for upstream's images.
  for (const s of served) if (await imageExists(s.upstream)) await dockerTry('rmi', s.upstream);
  for (const s of served) await dockerTry('rmi', s.from);
  if (await imageExists(HERMETIC_KEEP)) {
    const fake = await recipeImageRef('fake-anthropic');
    await dockerTry('rmi', fake); // the public-base build
    await dockerTry('tag', HERMETIC_KEEP, fake);
    await dockerTry('rmi', HERMETIC_KEEP);
  }
  await registry?.container.stop();
  log(`${code === 0 ? 'passed' : 'failed'} after ${secondsSince(t0)} s`);
}
process.exit(code);

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The compressed size of an image (its first platform's, for an index) as the registry stores it. */
async function compressedBytes(registry: StartedRegistry, repoTag: string, manifest: unknown): Promise<number> {
  const m = manifest as { layers?: { size: number }[]; config?: { size: number }; manifests?: { digest: string }[] };
  if (m.manifests?.length) {
    const repo = repoTag.slice(0, repoTag.lastIndexOf(':'));
    const first = await fetch(`http://${registry.hostAddress}/v2/${repo}/manifests/${m.manifests[0]!.digest}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    return compressedBytes(registry, repoTag, await first.json());
  }
  return (m.layers ?? []).reduce((n, l) => n + l.size, m.config?.size ?? 0);
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function runOut(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
