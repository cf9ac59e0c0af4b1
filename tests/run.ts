#!/usr/bin/env node
// npm test: every project, in two Vitest processes side by side. The dev stack's projects (static,
// images, smoke, integration) share one node and run in order; the production project has a node
// of its own, so it runs beside them instead of after them. Vitest runs projects of one group on
// one worker count, and integration's files may never overlap each other, so two processes are the
// way (vitest.config.ts). The Docker Engine is made ready here, once, before either starts, and the
// image mode (upstream or hermetic, dev/lib/image-mode.ts) is decided here, once, and handed to
// both, so their stacks never differ; the image factory's per-image locks let both set-ups ask for
// the same images, each built once.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { parseCommand } from '../lib/cli.ts';
import { ensureEngine } from '../lib/engine.ts';
import { chooseImageMode, IMAGE_MODE_ENV } from '../dev/lib/image-mode.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { secondsSince } from '../lib/time.ts';

/** The two runs: each a list of projects in vitest.config.ts's order, and the tag its lines carry. */
const RUNS = [
  { tag: 'dev-stack', projects: ['static', 'images', 'smoke', 'integration'] },
  { tag: 'production', projects: ['production'] },
] as const;

parseCommand({
  command: 'npm test --',
  summary:
    'Runs every test project: static, images, smoke and integration in one Vitest process, production (a node of its own) in another beside it. Starts the Docker Engine where it may and builds missing images. For one project: npm run test:<project> -- [files].',
  options: {},
});

const t0 = Date.now();
const log = (l: string) => console.log(`[test] ${l}`);
let mode: string;
try {
  await ensureEngine(log);
  const choice = await chooseImageMode();
  log(`images: ${choice.mode} for every project (${choice.reason})`);
  mode = choice.mode;
} catch (err) {
  console.error(`npm test: ${(err as Error).message}`);
  process.exit(1);
}

// The images project tests the image factory's own builds (every hermetic recipe, the node's
// included): upstream mode builds nothing, so it has nothing of theirs to test.
const runs = RUNS.map((r) => ({ ...r, projects: r.projects.filter((p) => mode === 'hermetic' || p !== 'images') }));
if (mode === 'upstream') log('the images project (the hermetic image factory) is left out: upstream mode builds no recipe');

const vitest = join(REPO_ROOT, 'node_modules/.bin/vitest');
const children = runs.map(({ tag, projects }) => {
  const child = spawn(vitest, ['run', ...projects.flatMap((p) => ['--project', p]), `--outputFile.junit=test-results/junit-${tag}.xml`], {
    cwd: REPO_ROOT,
    env: { ...process.env, [IMAGE_MODE_ENV]: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Whole lines, each tagged, so the two runs' output stays readable interleaved.
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ] as const)
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${tag} | ${line}\n`));
  const done = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      log(`${tag} (${projects.join(', ')}) ended after ${secondsSince(t0)} s: ${signal ?? `exit ${code}`}`);
      resolve(code ?? 1);
    }),
  );
  return { tag, child, done };
});

// Ctrl-C or a CI cancel: each run tears its node down before it exits.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    for (const { child } of children) child.kill(signal);
  });

const codes = await Promise.all(children.map((c) => c.done));
const failed = children.filter((_, i) => codes[i] !== 0).map((c) => c.tag);
log(failed.length ? `failed: ${failed.join(', ')} (${secondsSince(t0)} s)` : `all passed in ${secondsSince(t0)} s`);
process.exit(failed.length ? 1 : 0);
