#!/usr/bin/env node
// npm run model-map: refreshes tests/static/data/litellm-model-map.json, the Anthropic part of
// the model map bundled with the LiteLLM release the base pins. That map is the offline source
// of truth the static tier checks the configured model ids against.
import { $, tmpdir } from 'zx';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { REPO_ROOT } from './lib/kustomize.ts';
import { pinnedImages } from './lib/pins.ts';

export const MODEL_MAP_FILE = join(REPO_ROOT, 'tests/static/data/litellm-model-map.json');

const tag = pinnedImages()['ghcr.io/berriai/litellm-non_root'];
if (!tag) throw new Error('manifests/base/kustomization.yaml pins no ghcr.io/berriai/litellm-non_root tag');
const version = tag.replace(/^v/, '');
const dir = tmpdir();
await $`python3 -m pip download --quiet --no-deps --only-binary=:all: -d ${dir} ${'litellm==' + version}`;
const wheel = (await $`ls ${dir}`).stdout.trim().split('\n').find((f) => f.endsWith('.whl'));
if (!wheel) throw new Error(`pip downloaded no wheel for litellm==${version}`);
const json = await $`python3 -c ${'import sys,zipfile;sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("litellm/model_prices_and_context_window_backup.json").decode())'} ${join(dir, wheel)}`;
const map = JSON.parse(json.stdout) as Record<string, { litellm_provider?: string; mode?: string; deprecation_date?: string }>;
const models = Object.fromEntries(
  Object.entries(map)
    .filter(([, v]) => v.litellm_provider === 'anthropic')
    .map(([k, v]) => [k, { mode: v.mode ?? null, deprecation_date: v.deprecation_date ?? null }]),
);
const sha256 = createHash('sha256').update(readFileSync(join(dir, wheel))).digest('hex');
writeFileSync(MODEL_MAP_FILE, JSON.stringify({ litellmVersion: version, wheel, sha256, models }, null, 2) + '\n');
console.log(`${MODEL_MAP_FILE}: ${Object.keys(models).length} anthropic models from ${wheel}`);
