// The image pins: manifests/base/kustomization.yaml for the apps, a component's own for the
// images only it brings (each tag is set in exactly one place).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from './kustomize.ts';

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** image name -> tag (or digest) as pinned by one kustomization's `images:`. */
export function imagePins(kustomization: string): Record<string, string> {
  const doc = parse(readFileSync(kustomization, 'utf8')) as { images?: ImageEntry[] };
  return Object.fromEntries((doc.images ?? []).map((i) => [i.name, i.digest ?? i.newTag ?? '']));
}

/**
 * image name -> tag (or digest): the apps' pins in the base, plus those of the components that
 * bring images of their own (the in-cluster datastores).
 */
export function pinnedImages(manifests = MANIFESTS_DIR): Record<string, string> {
  const components = join(manifests, 'components');
  const files = [
    join(manifests, 'base/kustomization.yaml'),
    ...readdirSync(components)
      .sort()
      .map((c) => join(components, c, 'kustomization.yaml')),
  ];
  return Object.assign({}, ...files.filter((f) => existsSync(f)).map(imagePins)) as Record<string, string>;
}

/** LiteLLM releases that were compromised or never confirmed clean: never to be pinned or suggested. */
export const FORBIDDEN_LITELLM = ['1.82.7', '1.82.8', '1.107.0'];

/** The Python distribution behind each app image the manifests pin (the hermetic images build it from PyPI). */
export const APP_DISTRIBUTIONS: Record<string, string> = {
  'ghcr.io/berriai/litellm-non_root': 'litellm',
  'ghcr.io/open-webui/open-webui': 'open-webui',
};

const numeric = (v: string): number[] | undefined => (/^\d+(\.\d+)*$/.test(v) ? v.split('.').map(Number) : undefined);
const compare = (a: number[], b: number[]) => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
};

export interface PinReport {
  pinned: string;
  /** final releases of the same major.minor line newer than the pin, oldest first */
  newerPatches: string[];
  /** the newest final release of any line */
  newest: string;
  /** releases newer than the pin skipped because they are yanked or forbidden */
  skipped: string[];
}

/**
 * What PyPI offers beside a pin: newer patch releases of its line, and the newest release.
 * `releases` is PyPI's JSON API `releases` map (version -> files, each with `yanked`).
 * Pre-releases (anything not plain dotted numbers) are ignored.
 */
export function pinReport(pinned: string, releases: Record<string, { yanked?: boolean }[]>, forbidden: string[] = []): PinReport {
  const pin = numeric(pinned.replace(/^v/, ''));
  if (!pin) throw new Error(`pin ${pinned} is not a plain version`);
  const skipped: string[] = [];
  const finals = Object.entries(releases)
    .filter(([v, files]) => {
      if (!numeric(v)) return false;
      const bad = forbidden.includes(v) || (files.length > 0 && files.every((f) => f.yanked));
      if (bad) skipped.push(v);
      return !bad && files.length > 0;
    })
    .map(([v]) => numeric(v)!)
    .sort(compare);
  const sameLine = (v: number[]) => v[0] === pin[0] && v[1] === pin[1];
  return {
    pinned: pin.join('.'),
    newerPatches: finals.filter((v) => sameLine(v) && compare(v, pin) > 0).map((v) => v.join('.')),
    newest: finals.at(-1)?.join('.') ?? pin.join('.'),
    skipped: skipped.filter((v) => compare(numeric(v) ?? [], pin) > 0).sort((a, b) => compare(numeric(a) ?? [], numeric(b) ?? [])),
  };
}
