#!/usr/bin/env node
// Build the local images (images/<name>/) that are missing or stale, dependencies first, then
// (without --only) the dev stack's image store, so the next dev:up's fresh node starts from it.
//   npm run images:build [-- --only base,ryuk] [--force] [--verbose]
// Two builds run at once (CHATSTACK_IMAGE_JOBS to change that; --verbose builds one at a time).
import { chalk } from 'zx';
import { listOption, parseCommand } from '../lib/cli.ts';
import { ensureImages, ImageBuildError } from '../images/factory/build.ts';
import { ensureEngine } from '../lib/engine.ts';
import { secondsSince } from '../lib/time.ts';
import { imagesUsed, prepareImages } from './lib/image-mode.ts';
import { overlayDir, renderObjects } from '../lib/kustomize.ts';
import { ensureNodeStore, storeDisabled } from './lib/node-store.ts';

const { values: argv } = parseCommand({
  command: 'npm run images:build --',
  summary:
    "Builds the local images (images/<name>/) that are missing or stale, dependencies first, two at a\ntime, then (without --only) the dev stack's image store.",
  options: {
    only: { type: 'string', value: 'A,B', help: 'build these recipes (and what they depend on) only' },
    force: { type: 'boolean', help: 'rebuild the selected images even if up to date' },
    verbose: { type: 'boolean', help: 'stream prepare/build output, one build at a time' },
  },
});

try {
  await ensureEngine();
  const t0 = Date.now();
  const results = await ensureImages(listOption(argv.only), { force: argv.force, verbose: argv.verbose });
  const built = results.filter((r) => r.status === 'built');
  console.log(
    chalk.green(`images: ${results.length} ready, ${built.length} built, ${secondsSince(t0)}s`) +
      (built.length ? ` (${built.map((r) => `${r.name} ${r.seconds}s`).join(', ')})` : ''),
  );
  if (!argv.only && !storeDisabled()) {
    const images = await prepareImages('hermetic', {}, imagesUsed(await renderObjects(overlayDir('dev'))));
    const store = await ensureNodeStore(images.node, images.workload, (l) => console.log(`images: ${l}`));
    console.log(`images: dev stack's image store ${store.volume} ${store.built ? `built in ${store.seconds}s` : 'up to date'}`);
  }
} catch (err) {
  if (err instanceof ImageBuildError) {
    console.error(chalk.red(`images: FAILED at ${err.step} of ${err.image}`));
    console.error(err.message);
  } else {
    console.error(chalk.red(`images: FAILED: ${(err as Error).message}`));
  }
  process.exitCode = 1;
}
