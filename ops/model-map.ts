#!/usr/bin/env node
// npm run model-map: refreshes tests/static/data/litellm-model-map.json, the Anthropic and Voyage
// parts of the model map bundled with the LiteLLM release the base pins. That map is the offline source
// of truth the static tier checks the configured model ids against.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { $, tmpdir } from 'zx';
import { REPO_ROOT } from '../lib/kustomize.ts';
import { pinnedImages } from '../lib/pins.ts';
import { parseCommand } from '../lib/cli.ts';

export const MODEL_MAP_FILE = join(REPO_ROOT, 'tests/static/data/litellm-model-map.json');

const LITELLM_IMAGE = 'ghcr.io/berriai/litellm-non_root';
/** Where the wheel keeps the map LiteLLM uses offline (LITELLM_LOCAL_MODEL_COST_MAP). */
const BUNDLED_MAP = 'litellm/model_prices_and_context_window_backup.json';

export interface ModelMapEntry {
  mode: string | null;
  deprecation_date: string | null;
  /** Embedding models: the vector's dimension, when the map gives it. */
  output_vector_size?: number | null;
}

export interface ModelMap {
  litellmVersion: string;
  wheel: string;
  sha256: string;
  models: Record<string, ModelMapEntry>;
}

/** The LiteLLM version the base kustomization pins (its image tag without the "v"). */
export function pinnedLiteLLMVersion(): string {
  const tag = pinnedImages()[LITELLM_IMAGE];
  if (!tag) throw new Error(`manifests/base/kustomization.yaml pins no ${LITELLM_IMAGE} tag`);
  return tag.replace(/^v/, '');
}

/**
 * Downloads LiteLLM `version`'s wheel from PyPI and returns the Anthropic part of its bundled map
 * (keyed by the model id, as the map keys them) and the Voyage part (keyed `voyage/<id>`, likewise).
 */
export async function fetchModelMap(version: string): Promise<ModelMap> {
  const dir = tmpdir();
  await $`python3 -m pip download --quiet --no-deps --only-binary=:all: -d ${dir} ${'litellm==' + version}`;
  const wheel = readdirSync(dir).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip downloaded no wheel for litellm==${version}`);
  const path = join(dir, wheel);
  const read = `import sys,zipfile;sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(${JSON.stringify(BUNDLED_MAP)}).decode())`;
  const map = JSON.parse((await $`python3 -c ${read} ${path}`).stdout) as Record<
    string,
    { litellm_provider?: string; mode?: string; deprecation_date?: string; output_vector_size?: number }
  >;
  const models = Object.fromEntries(
    Object.entries(map)
      .filter(([, v]) => v.litellm_provider === 'anthropic' || (v.litellm_provider === 'voyage' && v.mode === 'embedding'))
      .map(([k, v]) => [
        k,
        {
          mode: v.mode ?? null,
          deprecation_date: v.deprecation_date ?? null,
          ...(v.mode === 'embedding' ? { output_vector_size: v.output_vector_size ?? null } : {}),
        },
      ]),
  );
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  return { litellmVersion: version, wheel, sha256, models };
}

/** Writes the pinned release's map to `file` (default MODEL_MAP_FILE) and returns it. */
export async function refreshModelMap(file = MODEL_MAP_FILE): Promise<ModelMap> {
  const map = await fetchModelMap(pinnedLiteLLMVersion());
  writeFileSync(file, JSON.stringify(map, null, 2) + '\n');
  return map;
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  parseCommand({
    command: 'npm run model-map',
    summary: `Refreshes ${MODEL_MAP_FILE.slice(REPO_ROOT.length + 1)}, the Anthropic and Voyage parts of the model map bundled with the\nLiteLLM release the base pins, from PyPI: the static tier's offline source of truth for model ids.`,
    options: {},
  });
  const map = await refreshModelMap();
  console.log(`${MODEL_MAP_FILE}: ${Object.keys(map.models).length} anthropic and voyage models from ${map.wheel}`);
}
