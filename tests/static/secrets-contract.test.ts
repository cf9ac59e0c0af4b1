// Every overlay is a secret-free package: from a clean copy of the tracked files, with nothing
// generated or added, it renders, holds no Secret, and names exactly the Secrets and keys of the
// table in docs/operations.md ("Secrets"). Its local instance (manifests/local/<overlay>) generates
// exactly those, from env files whose examples list exactly those keys, and no rendered value is a
// placeholder.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { listOverlays, renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { REPO_ROOT } from '../../lib/paths.ts';
import { optionalKeys, parseEnv } from '../../lib/secrets.ts';
import { cleanCopy } from '../support/clean-copy.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { secretReferences } from './secret-refs.ts';

interface Row {
  secret: string;
  key: string;
  overlays: string[];
  /** marked "(optional)": the overlay reads it only when present */
  optional: boolean;
}

/** The documented table: one row per Secret and key. */
function documented(overlays: string[]): Row[] {
  const text = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
  const block = /<!-- secrets:start -->([\s\S]*?)<!-- secrets:end -->/.exec(text)?.[1];
  if (!block) throw new Error('docs/operations.md has no <!-- secrets:start --> ... <!-- secrets:end --> table');
  return block
    .split('\n')
    .filter((l) => /^\| `/.test(l))
    .map((l) => {
      const [secret, key, which] = l
        .split('|')
        .slice(1, 4)
        .map((c) => c.trim().replace(/`/g, ''));
      return {
        secret: secret!,
        key: key!,
        overlays: which === 'all' ? overlays : which!.split(',').map((s) => s.trim()),
        optional: /\(optional\)/.test(l),
      };
    });
}

const pairs = (refs: Map<string, Set<string>>) => [...refs].flatMap(([s, keys]) => [...keys].map((k) => `${s} ${k}`)).sort();

let clean: string;
let ws: Workspace;
const plain = new Map<string, KubeObject[]>();
const local = new Map<string, KubeObject[]>();
const OVERLAYS = listOverlays();

beforeAll(async () => {
  clean = cleanCopy();
  ws = await createWorkspace();
  await Promise.all(
    OVERLAYS.map(async (o) => {
      plain.set(o, await renderObjects(join(clean, 'manifests/overlays', o)));
      local.set(o, await renderObjects(join(ws.localDir, o)));
    }),
  );
}, 60_000);
afterAll(() => {
  rmSync(clean, { recursive: true, force: true });
  ws?.[Symbol.dispose]();
});

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  it('renders from a clean clone with nothing added, and holds no Secret', () => {
    const objects = plain.get(overlay)!;
    expect(objects.find((o) => o.kind === 'Namespace')).toBeDefined();
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([]);
  });

  it('names exactly the Secrets and keys the documented table lists for it (optional ones marked so)', () => {
    const rows = documented(OVERLAYS).filter((r) => r.overlays.includes(overlay));
    const want = (optional: boolean) =>
      rows
        .filter((r) => r.optional === optional)
        .map((r) => `${r.secret} ${r.key}`)
        .sort();
    expect(pairs(secretReferences(plain.get(overlay)!))).toEqual(want(false));
    expect(pairs(secretReferences(plain.get(overlay)!, true))).toEqual(want(true));
  });

  it('its local instance generates exactly those Secrets, from examples listing exactly those keys', () => {
    const dir = join(REPO_ROOT, 'manifests/local', overlay);
    const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
      secretGenerator: { name: string; envs?: string[]; files?: string[] }[];
    };
    expect(kustomization.resources).toContain(`../../overlays/${overlay}`);
    const generated = new Map<string, Set<string>>();
    const optional = new Map<string, Set<string>>();
    for (const g of kustomization.secretGenerator) {
      const examples = g.envs?.map((f) => parseEnv(readFileSync(join(dir, `${f}.example`), 'utf8'))) ?? [];
      const marked = new Set(examples.flatMap((e) => [...optionalKeys(e)]));
      const keys = g.envs ? examples.flatMap((e) => [...e.keys()]) : g.files!.map((f) => f.split('=')[0]!);
      generated.set(g.name, new Set(keys.filter((k) => !marked.has(k))));
      if (marked.size > 0) optional.set(g.name, marked);
    }
    // Every key the overlay needs is generated; besides those, an example may give keys the overlay
    // reads only when present (generated in dev, or marked @optional to stay empty), nothing else.
    const required = pairs(secretReferences(plain.get(overlay)!));
    const readWhenPresent = pairs(secretReferences(plain.get(overlay)!, true));
    expect(pairs(generated).filter((p) => !readWhenPresent.includes(p))).toEqual(required);
    for (const p of pairs(optional)) expect(readWhenPresent).toContain(p);
  });

  it('its local instance is the overlay plus those Secrets, and no value is a placeholder', () => {
    const objects = local.get(overlay)!;
    const strip = (name: string) => name.replace(/-[a-z0-9]{10}$/, '');
    const withoutSecrets = objects
      .filter((o) => o.kind !== 'Secret')
      .map((o) => `${o.kind}/${o.metadata.name}`)
      .sort();
    expect(withoutSecrets).toEqual(
      plain
        .get(overlay)!
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    );
    const secrets = objects.filter((o) => o.kind === 'Secret');
    expect(secrets.map((s) => strip(s.metadata.name)).sort()).toEqual([...secretReferences(plain.get(overlay)!).keys()].sort());
    for (const s of secrets) {
      for (const [key, value] of Object.entries((s['data'] ?? {}) as Record<string, string>)) {
        expect({ secret: s.metadata.name, key, placeholder: Buffer.from(value, 'base64').toString('utf8').startsWith('@random') }).toEqual({
          secret: s.metadata.name,
          key,
          placeholder: false,
        });
      }
    }
  });
});

describe('the checks above', () => {
  it('see a Secret a component starts to name without the table or the local instance knowing it (positive control)', () => {
    const objects = structuredClone(plain.get('dev')!);
    const litellm = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'litellm') as unknown as {
      spec: { template: { spec: { containers: { env?: unknown[] }[] } } };
    };
    litellm.spec.template.spec.containers[0]!.env!.push({
      name: 'EXTRA',
      valueFrom: { secretKeyRef: { name: 'litellm-secrets', key: 'EXTRA_KEY' } },
    });
    expect(pairs(secretReferences(objects))).toContain('litellm-secrets EXTRA_KEY');
    expect(documented(OVERLAYS).some((r) => r.secret === 'litellm-secrets' && r.key === 'EXTRA_KEY')).toBe(false);
  });
});
