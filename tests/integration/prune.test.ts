// Prune sees every kind a stack ever applied (lib/kube/apply.ts, the ApplySet convention): a
// namespace switched from overlays/production-selfhosted to overlays/production loses the
// in-cluster Postgres and Redis (the StatefulSet and Deployment, Services, NetworkPolicies, service
// accounts, the init ConfigMap; Postgres's data claim stays, as a StatefulSet's claims do),
// keeps the objects both overlays share as they were (same uid: the uploads claim and the apps'
// Deployments are never recreated), and a component dropped later takes its HTTPRoute with it.
// Both overlays run here with their workloads at zero replicas (their HPAs then hold still):
// what is under test is which objects exist, on this node beside the dev stack.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { APPLYSET_PARENT, applyObjects, applySetId } from '../../lib/kube/apply.ts';
import { deleteNamespace } from '../../lib/kube/namespace.ts';
import { renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { waitUntil } from '../../lib/wait.ts';
import { kc, stack as devStack } from '../support/live.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const NAMESPACE = 'chat-prune';
let ws: Workspace;

/** `overlay` in this test's namespace, every workload at zero replicas, plus `extra` kustomization fields. */
async function render(overlay: string, extra: Record<string, unknown> = {}): Promise<KubeObject[]> {
  const dir = join(ws.root, `prune-${overlay}-${Object.keys(extra).length}`);
  mkdirSync(dir, { recursive: true });
  // Every Deployment and StatefulSet at zero replicas (add: the autoscaled ones have no replicas field).
  const zero = ['Deployment', 'StatefulSet'].map((kind) => ({
    target: { kind },
    patch: JSON.stringify([{ op: 'add', path: '/spec/replicas', value: 0 }]),
  }));
  const { patches = [], ...rest } = extra as { patches?: unknown[] };
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({ namespace: NAMESPACE, resources: [`../manifests/local/${overlay}`], patches: [...zero, ...patches], ...rest }),
  );
  return renderObjects(dir);
}

const key = (o: { kind?: string; metadata?: { name?: string } }) => `${o.kind}/${o.metadata?.name}`;

/** kind/name → uid of every object of `objects`'s kinds now in the namespace that this apply set owns. */
async function live(objects: KubeObject[]): Promise<Map<string, string>> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const kinds = new Map(objects.filter((o) => o.kind !== 'Namespace').map((o) => [`${o.apiVersion} ${o.kind}`, o]));
  const found = new Map<string, string>();
  for (const o of kinds.values()) {
    const list = await api.list(
      o.apiVersion,
      o.kind,
      NAMESPACE,
      undefined,
      undefined,
      undefined,
      undefined,
      `applyset.kubernetes.io/part-of=${applySetId(APPLYSET_PARENT, NAMESPACE)}`,
    );
    for (const item of list.items)
      if (!item.metadata?.deletionTimestamp) found.set(`${o.kind}/${item.metadata!.name}`, item.metadata!.uid!);
  }
  return found;
}

const label = (overlay: string) => ({ overlay, namespace: NAMESPACE });
let selfhosted: KubeObject[];
let managed: KubeObject[];

beforeAll(async () => {
  ws = await createWorkspace();
  selfhosted = await render('production-selfhosted');
  managed = await render('production');
}, 120_000);

afterAll(async () => {
  await deleteNamespace(kc, NAMESPACE).catch(() => undefined);
  ws?.[Symbol.dispose]();
}, 180_000);

describe('prune by apply set', { timeout: 180_000 }, () => {
  let before: Map<string, string>;
  const DATASTORES = [
    'StatefulSet/postgres',
    'Service/postgres',
    'NetworkPolicy/postgres',
    'ServiceAccount/postgres',
    'ConfigMap/postgres-initdb',
    'Deployment/redis',
    'Service/redis',
    'NetworkPolicy/redis',
    'ServiceAccount/redis',
  ];

  it('applies production-selfhosted: its Postgres and Redis are there (the control for what follows)', async () => {
    await applyObjects(kc, selfhosted, label('production-selfhosted'));
    before = await live(selfhosted);
    expect([...before.keys()]).toEqual(expect.arrayContaining(DATASTORES));
    expect(before.size).toBe(selfhosted.filter((o) => o.kind !== 'Namespace').length);
    const parent = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ name: APPLYSET_PARENT, namespace: NAMESPACE });
    expect(parent.metadata?.annotations?.['applyset.kubernetes.io/contains-group-kinds']?.split(',')).toEqual(
      expect.arrayContaining(['StatefulSet.apps', 'HTTPRoute.gateway.networking.k8s.io', 'NetworkPolicy.networking.k8s.io', 'Namespace']),
    );
  });

  it('switched to production: the in-cluster datastores are pruned, the shared objects kept as they were', async () => {
    const { pruned } = await applyObjects(kc, managed, label('production'));
    for (const d of DATASTORES) expect(pruned).toContain(d.replace('/', `/${NAMESPACE}/`));
    const after = await waitUntil(
      'the pruned objects gone',
      async () => {
        const now = await live([...selfhosted, ...managed]);
        return DATASTORES.some((d) => now.has(d)) ? undefined : now;
      },
      { timeoutMs: 60_000 },
    );
    expect([...after.keys()].sort()).toEqual(
      managed
        .filter((o) => o.kind !== 'Namespace')
        .map(key)
        .sort(),
    );
    // Shared by both overlays: not recreated (same uid), so their data stays.
    const shared = managed.map(key).filter((k) => before.has(k));
    expect(shared).toEqual(
      expect.arrayContaining([
        'PersistentVolumeClaim/open-webui-data',
        'Deployment/open-webui',
        'Deployment/litellm',
        'HTTPRoute/open-webui',
      ]),
    );
    for (const k of shared) expect({ k, uid: after.get(k) }).toEqual({ k, uid: before.get(k) });
  });

  it('a component dropped later takes its kinds with it (the HTTPRoute), and the dev stack beside is untouched', async () => {
    const withoutRoute = await render('production', {
      patches: [
        {
          target: { kind: 'HTTPRoute' },
          patch: stringify({
            $patch: 'delete',
            apiVersion: 'gateway.networking.k8s.io/v1',
            kind: 'HTTPRoute',
            metadata: { name: 'open-webui' },
          }),
        },
      ],
    });
    expect(withoutRoute.some((o) => o.kind === 'HTTPRoute')).toBe(false);
    const { pruned } = await applyObjects(kc, withoutRoute, label('production'));
    expect(pruned).toEqual([`HTTPRoute/${NAMESPACE}/open-webui`]);
    const routes = await k8s.KubernetesObjectApi.makeApiClient(kc).list('gateway.networking.k8s.io/v1', 'HTTPRoute', NAMESPACE);
    expect(routes.items.filter((r) => !r.metadata?.deletionTimestamp).map((r) => r.metadata?.name)).toEqual([]);
    // The dev stack is another apply set (its own parent and id): never listed here, still whole.
    const devDeployments = await kc.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace: devStack.namespace });
    expect(devDeployments.items.map((d) => [d.metadata!.name, d.metadata!.labels?.['applyset.kubernetes.io/part-of']])).toEqual(
      ['fake-anthropic', 'litellm', 'open-webui'].map((n) => [n, applySetId(APPLYSET_PARENT, devStack.namespace)]),
    );
    expect(applySetId(APPLYSET_PARENT, devStack.namespace)).not.toBe(applySetId(APPLYSET_PARENT, NAMESPACE));
  });
});
