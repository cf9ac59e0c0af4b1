// The overlays used as a package, the way GitOps tools and other repositories use them: the
// examples in docs/examples (a consumer kustomization with our overlay as a remote base, an overlay
// of your own from our base and components, an Argo CD Application, a Flux GitRepository and
// Kustomization) render against a git repository of this tree at the release tag they name. A
// local repository made from a clean copy of the tree stands in for the hosting service; the
// examples' URL is swapped for it, nothing else.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { REPO_ROOT } from '../../lib/paths.ts';
import { cleanCopy } from '../support/clean-copy.ts';

const EXAMPLES = join(REPO_ROOT, 'docs/examples');
const PLACEHOLDER = 'https://github.com/your-org/chat-stack';
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TAG = `v${version}`;

let repo: string;
let work: string;

/** A GitOps object as the examples spell it (only the fields the checks read). */
interface Example {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    source: { repoURL: string; targetRevision: string; path: string; kustomize: { namespace: string } };
    destination: { namespace: string };
    syncPolicy: { syncOptions: string[] };
    url: string;
    ref: { tag: string };
    sourceRef: { kind: string; name: string };
    path: string;
    targetNamespace: string;
  };
}
const docs = (file: string) => parseAllDocuments(readFileSync(join(EXAMPLES, file), 'utf8')).map((d) => d.toJS() as Example);

/** Renders an example kustomization directory with the hosting service swapped for the local repository. */
async function renderExample(name: string, extraFiles: Record<string, string> = {}): Promise<KubeObject[]> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    readFileSync(join(EXAMPLES, name, 'kustomization.yaml'), 'utf8').replaceAll(PLACEHOLDER, `file://${repo}`),
  );
  for (const [file, from] of Object.entries(extraFiles)) copyFileSync(from, join(dir, file));
  return renderObjects(dir);
}

/** What a GitOps tool renders: `path` of the repository at `revision`, in `namespace`. */
async function renderAt(revision: string, path: string, namespace: string): Promise<KubeObject[]> {
  const dir = mkdtempSync(join(work, 'tool-'));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({ namespace, resources: [`file://${repo}//${path.replace(/^\.\//, '')}?ref=${revision}`] }),
  );
  return renderObjects(dir);
}

const inNamespace = (objects: KubeObject[], ns: string) =>
  objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== ns).map((o) => `${o.kind}/${o.metadata.name}`);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'gitops-'));
  repo = cleanCopy();
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd: repo, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'release');
  git('tag', TAG);
}, 60_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

describe('the release the examples name', () => {
  it('is this version, with its CHANGELOG section', () => {
    const refs = [
      ...readFileSync(join(EXAMPLES, 'consumer/kustomization.yaml'), 'utf8').matchAll(/\?ref=(v[\w.-]+)/g),
      ...readFileSync(join(EXAMPLES, 'own-overlay/kustomization.yaml'), 'utf8').matchAll(/\?ref=(v[\w.-]+)/g),
    ].map((m) => m[1]);
    expect(
      new Set([...refs, docs('argocd/application.yaml')[0]!.spec.source.targetRevision, docs('flux/kustomization.yaml')[0]!.spec.ref.tag]),
    ).toEqual(new Set([TAG]));
    expect(readFileSync(join(REPO_ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[${version.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
  });
});

describe('docs/examples', { timeout: 60_000 }, () => {
  it("consumer: the production overlay as a remote base at the tag, in the consumer's namespace, patched, Reloader-annotated", async () => {
    const objects = await renderExample('consumer');
    expect(objects.find((o) => o.kind === 'Namespace')?.metadata.name).toBe('team-chat');
    expect(inNamespace(objects, 'team-chat')).toEqual([]);
    expect(
      (objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'litellm')!['spec'] as { maxReplicas: number })
        .maxReplicas,
    ).toBe(8);
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    // Reloader's annotation on every Deployment: what rolls them when a fixed-name Secret changes.
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['litellm', 'open-webui']);
    for (const d of deployments) expect(d.metadata.annotations?.['reloader.stakater.com/auto'], d.metadata.name).toBe('true');
  });

  it("own-overlay: the base and components at the tag, with the consumer's public endpoint", async () => {
    const objects = await renderExample('own-overlay', {
      'public-endpoint.yaml': join(REPO_ROOT, 'manifests/overlays/production/public-endpoint.yaml'),
    });
    expect(inNamespace(objects, 'team-chat')).toEqual([]);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining(['StatefulSet/postgres', 'HTTPRoute/open-webui', 'HorizontalPodAutoscaler/open-webui']),
    );
  });

  it("argocd: the Application's path at its revision renders into its destination namespace", async () => {
    const [app] = docs('argocd/application.yaml');
    expect([app!.apiVersion, app!.kind]).toEqual(['argoproj.io/v1alpha1', 'Application']);
    const { source, destination, syncPolicy } = app!.spec;
    expect(source.repoURL).toBe(PLACEHOLDER);
    expect(source.kustomize.namespace).toBe(destination.namespace);
    expect(syncPolicy.syncOptions).toContain('ServerSideApply=true');
    const objects = await renderAt(source.targetRevision, source.path, source.kustomize.namespace);
    expect(inNamespace(objects, destination.namespace)).toEqual([]);
    expect(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'open-webui')).toBe(true);
  });

  it("flux: the Kustomization's path in the GitRepository at its tag renders into its target namespace", async () => {
    const [source, kustomization] = docs('flux/kustomization.yaml');
    expect([source!.kind, kustomization!.kind]).toEqual(['GitRepository', 'Kustomization']);
    expect(source!.spec.url).toBe(PLACEHOLDER);
    expect(kustomization!.spec.sourceRef).toEqual({ kind: 'GitRepository', name: source!.metadata.name });
    const objects = await renderAt(source!.spec.ref.tag, kustomization!.spec.path, kustomization!.spec.targetNamespace);
    expect(inNamespace(objects, kustomization!.spec.targetNamespace)).toEqual([]);
  });

  it('a ref the repository does not have fails to render (positive control for the checks above)', async () => {
    await expect(renderAt('v0.0.0-missing', 'manifests/overlays/production', 'x')).rejects.toThrow();
  });
});
