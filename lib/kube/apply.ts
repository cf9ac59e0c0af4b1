// Applying an overlay: server-side apply with a dry run first, then pruning what an earlier apply
// left behind.
import * as k8s from '@kubernetes/client-node';
import type { KubeObject } from '../kustomize.ts';
import { apiMessage } from './config.ts';
import { namespaceExists } from './namespace.ts';

export const FIELD_MANAGER = 'chat-stack';
/** Every object the harness applies carries this label (value: the overlay), so prune can find it. */
export const APPLIED_BY = 'chat-stack.dev/overlay';
/**
 * And this one (value: the stack's namespace): two stacks of one overlay on a cluster (a test's
 * fresh dev stack in its own namespace beside the dev stack) must never prune each other.
 */
export const STACK = 'chat-stack.dev/stack';

/** Which stack an apply belongs to: the overlay it renders and the namespace it is known by. */
export interface StackLabel {
  overlay: string;
  namespace: string;
}

/** The kinds an overlay may contain, i.e. the kinds prune looks through. */
const PRUNABLE: { apiVersion: string; kind: string; namespaced: boolean }[] = [
  { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  { apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true },
  { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  { apiVersion: 'v1', kind: 'Secret', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', namespaced: true },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespaced: true },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', namespaced: true },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespaced: true },
];

function id(o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name}`;
}

/**
 * Server-side apply that sends the rendered JSON as it is: KubernetesObjectApi.patch() passes
 * objects through client-node's typed models, which drop fields whose model property is renamed
 * (NetworkPolicy's `from` is `_from` there). This keeps client-node's URL discovery and auth, not
 * its serializer. `fieldValidation=Strict` rejects unknown fields.
 */
class ApplyApi extends k8s.KubernetesObjectApi {
  static forConfig(kc: k8s.KubeConfig): ApplyApi {
    const api = kc.makeApiClient(ApplyApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  async apply(spec: KubeObject, dryRun?: 'All'): Promise<k8s.KubernetesObject> {
    const ctx = this.configuration.baseServer.makeRequestContext(await this.specUriPath(spec as k8s.KubernetesObject, 'patch'), k8s.HttpMethod.PATCH);
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('Content-Type', k8s.PatchStrategy.ServerSideApply);
    ctx.setQueryParam('fieldManager', FIELD_MANAGER);
    ctx.setQueryParam('force', 'true');
    ctx.setQueryParam('fieldValidation', 'Strict');
    if (dryRun) ctx.setQueryParam('dryRun', dryRun);
    ctx.setBody(JSON.stringify(spec));
    return this.requestPromise(ctx);
  }
}

function labelled(o: KubeObject, stack: StackLabel): KubeObject {
  return { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, [APPLIED_BY]: stack.overlay, [STACK]: stack.namespace } } };
}

/** Namespaces first, so the objects inside them can be created in the same pass. */
function ordered(objects: KubeObject[]): KubeObject[] {
  return [...objects].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
}

/**
 * Server-side applies `objects`. A server-side dry run of everything goes first, so a bad
 * manifest fails before anything changes; then the real apply; then prune removes what an
 * earlier apply of this harness created and this render no longer contains.
 */
export async function applyObjects(kc: k8s.KubeConfig, objects: KubeObject[], stack: StackLabel, log: (s: string) => void = () => {}): Promise<{ applied: number; pruned: string[] }> {
  const api = ApplyApi.forConfig(kc);
  const items = ordered(objects).map((o) => labelled(o, stack));
  const apply = (o: KubeObject, dryRun?: 'All') => api.apply(o, dryRun);
  const dryRun = async (list: KubeObject[]) => {
    const errors: string[] = [];
    for (const o of list) await apply(o, 'All').catch((err: unknown) => errors.push(`${id(o)}: ${apiMessage(err)}`));
    return errors;
  };
  // Objects can only be dry-run inside a namespace that exists. A new namespace is created
  // (empty) for that, and removed again if the dry run fails, so a bad manifest changes nothing.
  const namespaces = items.filter((o) => o.kind === 'Namespace');
  const others = items.filter((o) => o.kind !== 'Namespace');
  let errors = await dryRun(namespaces);
  const created: KubeObject[] = [];
  if (errors.length === 0) {
    for (const ns of namespaces) {
      if (await namespaceExists(kc, ns.metadata.name)) continue;
      await apply(ns);
      created.push(ns);
    }
    errors = await dryRun(others);
  }
  if (errors.length > 0) {
    for (const ns of created) await api.delete(ns as k8s.KubernetesObject).catch(() => undefined);
    throw new Error(`The server rejected the manifests (server-side dry run; nothing was changed):\n  ${errors.join('\n  ')}`);
  }
  for (const o of items) await apply(o);
  log(`applied ${items.length} objects (server-side apply, field manager ${FIELD_MANAGER})`);
  const pruned = await prune(kc, items, stack);
  for (const p of pruned) log(`pruned ${p}`);
  return { applied: items.length, pruned };
}

/**
 * Deletes objects this harness applied for this stack (overlay and namespace) that are not in
 * `keep`. Only that stack's: another stack on the same cluster (the dev stack beside a test's
 * openshift one, or beside a second dev stack in another namespace) is not touched.
 */
export async function prune(kc: k8s.KubeConfig, keep: KubeObject[], stack: StackLabel): Promise<string[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const wanted = new Set(keep.map((o) => id({ kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } })));
  const removed: string[] = [];
  for (const t of PRUNABLE) {
    const list = await api.list(t.apiVersion, t.kind, undefined, undefined, undefined, undefined, undefined, `${APPLIED_BY}=${stack.overlay},${STACK}=${stack.namespace}`);
    for (const item of list.items) {
      const o = { kind: t.kind, metadata: { name: item.metadata?.name, namespace: t.namespaced ? item.metadata?.namespace : undefined } };
      if (wanted.has(id(o))) continue;
      await api.delete({ apiVersion: t.apiVersion, kind: t.kind, metadata: { name: item.metadata!.name!, namespace: o.metadata.namespace } }, undefined, undefined, undefined, undefined, 'Background');
      removed.push(id(o));
    }
  }
  return removed;
}

