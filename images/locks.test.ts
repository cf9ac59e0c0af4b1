// The Python locks of the app images (images/litellm, images/open-webui) are hash-pinned, pin
// exactly the releases the manifests reference, and can never install a compromised LiteLLM.
// No Docker: reads the committed files only.
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGES_DIR } from './factory/recipes.ts';
// FORBIDDEN_LITELLM: releases that were compromised or never confirmed clean, never installable.
import { FORBIDDEN_LITELLM, pinnedImages } from '../lib/pins.ts';

interface AppImage {
  recipe: string;
  /** the upstream image the manifests pin (manifests/base/kustomization.yaml) */
  upstream: string;
  /** the Python distribution that is the app */
  distribution: string;
}

const APPS: AppImage[] = [
  { recipe: 'litellm', upstream: 'ghcr.io/berriai/litellm-non_root', distribution: 'litellm' },
  { recipe: 'open-webui', upstream: 'ghcr.io/open-webui/open-webui', distribution: 'open-webui' },
];

export interface LockEntry {
  /** normalized distribution name (PEP 503) */
  name: string;
  /** the requirement as written, without options */
  requirement: string;
  /** exact version when pinned with `==` */
  version?: string;
  hashes: string[];
  /** 1-based line of the entry's first line */
  line: number;
}

const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** Parses a pip requirements file: continuation lines joined, comments dropped, options kept apart. */
export function parseLock(text: string): { entries: LockEntry[]; options: string[] } {
  const entries: LockEntry[] = [];
  const options: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i];
    while (/\\\s*$/.test(logical) && i + 1 < lines.length) logical = logical.replace(/\\\s*$/, ' ') + lines[++i];
    const content = logical.replace(/(^|\s)#.*$/, '').trim();
    if (!content) continue;
    if (content.startsWith('-')) {
      options.push(content);
      continue;
    }
    const [requirement, ...rest] = content.split(/\s+--/);
    const hashes = rest.filter((o) => o.startsWith('hash=')).map((o) => o.slice('hash='.length).trim());
    const nonHash = rest.filter((o) => !o.startsWith('hash='));
    if (nonHash.length) options.push(...nonHash.map((o) => `--${o}`));
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$/.exec(requirement.trim());
    const name = m ? normalize(m[1]) : requirement.trim();
    const spec = m?.[3]?.trim() ?? '';
    const pinned = /^==\s*([^\s;,]+)\s*(;.*)?$/.exec(spec);
    entries.push({ name, requirement: requirement.trim(), version: pinned?.[1], hashes, line: start + 1 });
  }
  return { entries, options };
}

const lockPath = (recipe: string) => path.join(IMAGES_DIR, recipe, 'requirements.txt');
const readLock = (recipe: string) => parseLock(readFileSync(lockPath(recipe), 'utf8'));
const pinnedTag = (upstream: string) => {
  const tag = pinnedImages()[upstream];
  if (!tag) throw new Error(`manifests/base/kustomization.yaml pins no image ${upstream}`);
  return tag;
};

describe('parseLock', () => {
  it('joins continuation lines and separates hashes, markers and options', () => {
    const { entries, options } = parseLock(
      [
        '# c',
        '--index-url https://x',
        'Foo_Bar[x]==1.0 ; python_version >= "3.8" \\',
        '    --hash=sha256:aa \\',
        '    --hash=sha256:bb',
        '    # via y',
        'baz>=2',
      ].join('\n'),
    );
    expect(options).toEqual(['--index-url https://x']);
    expect(entries).toEqual([
      {
        name: 'foo-bar',
        requirement: 'Foo_Bar[x]==1.0 ; python_version >= "3.8"',
        version: '1.0',
        hashes: ['sha256:aa', 'sha256:bb'],
        line: 3,
      },
      { name: 'baz', requirement: 'baz>=2', version: undefined, hashes: [], line: 7 },
    ]);
  });
});

describe.each(APPS)('images/$recipe/requirements.txt', ({ recipe, upstream, distribution }) => {
  it('pins every package exactly, once, with sha256 hashes, and sets no index or source options', () => {
    const { entries, options } = readLock(recipe);
    expect(entries.length).toBeGreaterThan(10);
    expect(options, 'options in the lock (indexes, find-links, editable installs ...)').toEqual([]);
    for (const e of entries) {
      expect(e.version, `line ${e.line}: ${e.requirement} is not pinned with ==`).toBeDefined();
      expect(e.hashes.length, `line ${e.line}: ${e.requirement} has no --hash`).toBeGreaterThan(0);
      for (const h of e.hashes) expect(h, `line ${e.line}: ${e.requirement}`).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(e.requirement, `line ${e.line}: a direct reference`).not.toMatch(/@|:\/\//);
    }
    const names = entries.map((e) => e.name);
    expect(
      names.filter((n, i) => names.indexOf(n) !== i),
      'packages listed twice',
    ).toEqual([]);
  });

  it(`pins ${distribution} to the release of the image tag the manifests pin`, () => {
    const tag = pinnedTag(upstream);
    expect(tag, `${upstream} is pinned by a plain vX.Y.Z tag`).toMatch(/^v\d+\.\d+\.\d+$/);
    const entry = readLock(recipe).entries.find((e) => e.name === distribution);
    expect(entry, `${distribution} is in the lock`).toBeDefined();
    expect(entry?.version).toBe(tag.slice(1));
  });

  it('is the lock the recipe installs, hash-checked, without resolver or index', () => {
    const joined = (file: string) => readFileSync(path.join(IMAGES_DIR, recipe, file), 'utf8').replace(/\\\n/g, ' ');
    const install = /pip install .*/.exec(joined('Dockerfile'))?.[0] ?? '';
    for (const flag of ['--require-hashes', '--no-deps', '--no-index', '-r /tmp/build/requirements.txt']) expect(install).toContain(flag);
    expect(joined('prepare.sh')).toMatch(/pip download .*--require-hashes/);
  });

  it('builds the image under the tag the manifests pin', () => {
    const json = JSON.parse(readFileSync(path.join(IMAGES_DIR, recipe, 'image.json'), 'utf8')) as {
      tag: string;
      inputs?: { upstream?: string };
    };
    expect(json.tag).toBe(pinnedTag(upstream));
    expect(json.inputs?.upstream).toBe(`${upstream}:${pinnedTag(upstream)}`);
  });
});

// The earlier releases an upgrade test starts from: locked the same way, built by the same files.
describe.each(APPS)("images/$recipe-previous (the upgrade tests' starting point)", ({ recipe, upstream, distribution }) => {
  const previous = `${recipe}-previous`;
  const json = JSON.parse(readFileSync(path.join(IMAGES_DIR, previous, 'image.json'), 'utf8')) as {
    tag: string;
    inputs: { upstream: string };
  };

  it('is hash-pinned like the current lock, at an older release of the same app than the pin', () => {
    const { entries, options } = readLock(previous);
    expect(options).toEqual([]);
    for (const e of entries) expect(e.hashes.length, `${e.requirement} has no --hash`).toBeGreaterThan(0);
    const version = entries.find((e) => e.name === distribution)?.version ?? '';
    expect(`v${version}`).toBe(json.tag);
    expect(json.inputs.upstream).toBe(`${upstream}:${json.tag}`);
    const [a, b] = [version, pinnedTag(upstream).slice(1)].map((v) => v.split('.').map(Number));
    expect(
      a!.map((n, i) => n - b![i]!).find((d) => d !== 0),
      `${version} is older than the pin ${pinnedTag(upstream)}`,
    ).toBeLessThan(0);
  });

  it("is built by the current recipe's own Dockerfile and lock script (linked, not copied)", () => {
    for (const file of ['Dockerfile', 'lock.sh']) {
      expect(realpathSync(path.join(IMAGES_DIR, previous, file))).toBe(realpathSync(path.join(IMAGES_DIR, recipe, file)));
    }
  });
});

describe('forbidden LiteLLM releases', () => {
  it.each([...APPS.map((a) => a.recipe), 'litellm-previous'])('images/%s/requirements.txt cannot install one', (recipe) => {
    const litellm = readLock(recipe).entries.filter((e) => e.name === 'litellm');
    for (const e of litellm) expect(FORBIDDEN_LITELLM).not.toContain(e.version);
    const text = readFileSync(lockPath(recipe), 'utf8');
    for (const v of FORBIDDEN_LITELLM) expect(text).not.toMatch(new RegExp(`^litellm==${v.replace(/\./g, '\\.')}\\b`, 'm'));
  });

  it('the lock input excludes them explicitly, so a re-lock can never pick one', () => {
    const input = readFileSync(path.join(IMAGES_DIR, 'litellm', 'requirements.in'), 'utf8');
    const exclusion = /^litellm\s*((?:!=[\d.]+\s*,?\s*)+)$/m.exec(input)?.[1] ?? '';
    const excluded = [...exclusion.matchAll(/!=\s*([\d.]+)/g)].map((m) => m[1]);
    expect(excluded.sort()).toEqual([...FORBIDDEN_LITELLM].sort());
  });

  it('the Open WebUI lock carries no LiteLLM at all', () => {
    expect(readLock('open-webui').entries.map((e) => e.name)).not.toContain('litellm');
  });
});
