#!/usr/bin/env node
// npm run pins:check [-- --strict]: asks PyPI whether newer patch releases exist for the app
// images the manifests pin (LiteLLM, Open WebUI), for a human to act on: a bump also needs the
// upstream image to exist and the hash-pinned lock regenerated (images/<app>/lock.sh). Yanked and
// known-compromised releases are never suggested. --strict exits 1 when a newer patch exists.
import { parseCommand } from '../lib/cli.ts';
import { APP_DISTRIBUTIONS, FORBIDDEN_LITELLM, pinnedImages, pinReport } from '../lib/pins.ts';

const { values } = parseCommand({
  command: 'npm run pins:check --',
  summary:
    'Asks PyPI whether newer patch releases exist for the app images the manifests pin (LiteLLM, Open\nWebUI). Yanked and known-compromised releases are never suggested.',
  options: { strict: { type: 'boolean', help: 'exit 1 when a newer patch exists' } },
});
const pins = pinnedImages();
let behind = 0;
for (const [image, dist] of Object.entries(APP_DISTRIBUTIONS)) {
  const tag = pins[image];
  if (!tag) throw new Error(`manifests pin no ${image}`);
  let releases: Record<string, { yanked?: boolean }[]>;
  try {
    const res = await fetch(`https://pypi.org/pypi/${dist}/json`, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    releases = ((await res.json()) as { releases: typeof releases }).releases;
  } catch (err) {
    console.error(`pins:check: cannot ask PyPI about ${dist} (${(err as Error).message}); this check needs https://pypi.org`);
    process.exit(2);
  }
  const r = pinReport(tag, releases, dist === 'litellm' ? FORBIDDEN_LITELLM : []);
  const line = r.pinned.split('.').slice(0, 2).join('.');
  if (r.newerPatches.length) behind++;
  console.log(
    `${dist} ${r.pinned} (${image}:${tag}): ` +
      (r.newerPatches.length ? `newer patches of ${line}: ${r.newerPatches.join(', ')}` : `the newest patch of ${line}`) +
      (r.newest !== r.pinned && !r.newerPatches.includes(r.newest) ? `; newest release ${r.newest}` : '') +
      (r.skipped.length ? `; never suggested (yanked or compromised): ${r.skipped.join(', ')}` : ''),
  );
}
if (behind)
  console.log(
    'To move a pin: the image tag in manifests/base/kustomization.yaml, images/<app>/image.json and requirements.in, then images/<app>/lock.sh.',
  );
process.exit(values.strict && behind ? 1 : 0);
