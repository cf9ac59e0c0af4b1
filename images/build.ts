#!/usr/bin/env node
// Build the local images (images/<name>/) that are missing or stale, dependencies first.
//   npm run images:build [-- --only base,ryuk] [--force] [--verbose]
// Two builds run at once (CHATSTACK_IMAGE_JOBS to change that; --verbose builds one at a time).
import { argv, chalk } from 'zx';
import { ensureImages, ImageBuildError } from './factory/build.ts';
import { ensureEngine } from './factory/engine.ts';
import { secondsSince } from './factory/time.ts';

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

try {
  await ensureEngine();
  const t0 = Date.now();
  const results = await ensureImages(list(argv.only), { force: Boolean(argv.force), verbose: Boolean(argv.verbose) });
  const built = results.filter((r) => r.status === 'built');
  console.log(
    chalk.green(`images: ${results.length} ready, ${built.length} built, ${secondsSince(t0)}s`) +
      (built.length ? ` (${built.map((r) => `${r.name} ${r.seconds}s`).join(', ')})` : ''),
  );
} catch (err) {
  if (err instanceof ImageBuildError) {
    console.error(chalk.red(`images: FAILED at ${err.step} of ${err.image}`));
    console.error(err.message);
  } else {
    console.error(chalk.red(`images: FAILED: ${(err as Error).message}`));
  }
  process.exitCode = 1;
}
