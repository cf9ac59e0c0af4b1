// Applying an overlay: server-side apply with a dry run first, then pruning what an earlier apply
// left behind.
import { createHash } from 'node:crypto';
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

/**
 * Prune follows the ApplySet convention (KEP-3659, what `kubectl apply --prune --applyset` reads
 * and writes): a parent object in the stack's namespace records every group-kind and namespace the
 * stack's objects were ever applied in, and each object carries the set's id. So prune looks
 * through exactly the kinds an earlier apply used, a StatefulSet or an HTTPRoute as much as a
 * Deployment, not through a list kept by hand.
 */
export const APPLYSET_PARENT = 'chat-stack-applyset';
const APPLYSET_ID = 'applyset.kubernetes.io/id';
const PART_OF = 'applyset.kubernetes.io/part-of';
const TOOLING = 'applyset.kubernetes.io/tooling';
const GROUP_KINDS = 'applyset.kubernetes.io/contains-group-kinds';
const ADDITIONAL_NAMESPACES = 'applyset.kubernetes.io/additional-namespaces';

/** The id of an ApplySet whose parent is the ConfigMap `name` in `namespace` (KEP-3659's formula). */
export function applySetId(name: string, namespace: string): string {
  return `applyset-${createHash('sha256').update(`${name}.${namespace}.ConfigMap.`).digest('base64url')}-v1`;
}

/** `Kind.group`, or `Kind` for the core group: the ApplySet annotation's spelling. */
function groupKind(o: { apiVersion: string; kind: string }): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return group ? `${o.kind}.${group}` : o.kind;
}

const splitList = (v: string | undefined) => (v ? v.split(',').filter(Boolean) : []);

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
    const ctx = this.configuration.baseServer.makeRequestContext(
      await this.specUriPath(spec as k8s.KubernetesObject, 'patch'),
      k8s.HttpMethod.PATCH,
    );
    ctx.setHeaderParam('Accept', 'application/json');
    ctx.setHeaderParam('Content-Type', k8s.PatchStrategy.ServerSideApply);
    ctx.setQueryParam('fieldManager', FIELD_MANAGER);
    ctx.setQueryParam('force', 'true');
    ctx.setQueryParam('fieldValidation', 'Strict');
    if (dryRun) ctx.setQueryParam('dryRun', dryRun);
    ctx.setBody(JSON.stringify(spec));
    return this.requestPromise(ctx);
  }

  /** Whether `kind` of `apiVersion` is namespaced; undefined when the cluster does not serve it. */
  async namespaced(apiVersion: string, kind: string): Promise<boolean | undefined> {
    return (await this.resource(apiVersion, kind).catch(() => undefined))?.namespaced;
  }
}

function labelled(o: KubeObject, stack: StackLabel): KubeObject {
  const labels = {
    ...o.metadata.labels,
    [APPLIED_BY]: stack.overlay,
    [STACK]: stack.namespace,
    [PART_OF]: applySetId(APPLYSET_PARENT, stack.namespace),
  };
  return { ...o, metadata: { ...o.metadata, labels } };
}

/** The ApplySet's parent as it stands, if any. */
async function readParent(kc: k8s.KubeConfig, namespace: string): Promise<{ groupKinds: string[]; namespaces: string[] }> {
  try {
    const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ name: APPLYSET_PARENT, namespace });
    return {
      groupKinds: splitList(cm.metadata?.annotations?.[GROUP_KINDS]),
      namespaces: splitList(cm.metadata?.annotations?.[ADDITIONAL_NAMESPACES]),
    };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return { groupKinds: [], namespaces: [] };
    throw err;
  }
}

/** The parent ConfigMap recording `groupKinds` and the namespaces besides its own. */
function parent(stack: StackLabel, groupKinds: string[], namespaces: string[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: APPLYSET_PARENT,
      namespace: stack.namespace,
      labels: { [APPLYSET_ID]: applySetId(APPLYSET_PARENT, stack.namespace), [STACK]: stack.namespace },
      annotations: {
        [TOOLING]: `${FIELD_MANAGER}/v1`,
        [GROUP_KINDS]: [...new Set(groupKinds)].sort().join(','),
        [ADDITIONAL_NAMESPACES]: [...new Set(namespaces)]
          .filter((n) => n !== stack.namespace)
          .sort()
          .join(','),
      },
    },
  } as KubeObject;
}

/** What a set of objects spans: its group-kinds and the namespaces of its namespaced objects. */
function span(objects: KubeObject[]): { groupKinds: string[]; namespaces: string[] } {
  return {
    groupKinds: objects.map(groupKind),
    namespaces: objects.map((o) => o.metadata.namespace).filter((n): n is string => Boolean(n)),
  };
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
export async function applyObjects(
  kc: k8s.KubeConfig,
  objects: KubeObject[],
  stack: StackLabel,
  log: (s: string) => void = () => {},
): Promise<{ applied: number; pruned: string[] }> {
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
  // As kubectl does: the parent first records what this apply adds to what earlier ones used, so
  // an apply cut short still leaves every kind findable; after pruning it records this apply's.
  for (const o of namespaces) await apply(o);
  const before = await readParent(kc, stack.namespace);
  const now = span(items);
  await apply(parent(stack, [...before.groupKinds, ...now.groupKinds], [...before.namespaces, ...now.namespaces]));
  for (const o of others) await apply(o);
  log(`applied ${items.length} objects (server-side apply, field manager ${FIELD_MANAGER})`);
  const pruned = await prune(kc, items, stack);
  await apply(parent(stack, now.groupKinds, now.namespaces));
  for (const p of pruned) log(`pruned ${p}`);
  return { applied: items.length, pruned };
}

/**
 * Deletes the members of this stack's ApplySet that are not in `keep`, looking through every
 * group-kind and namespace its parent records. Another stack on the same cluster (the dev stack
 * beside a test's openshift one, or a second dev stack in another namespace) has another parent
 * and another id, so it is not touched. A kind the cluster no longer serves has nothing to prune.
 */
export async function prune(kc: k8s.KubeConfig, keep: KubeObject[], stack: StackLabel): Promise<string[]> {
  const api = ApplyApi.forConfig(kc);
  const wanted = new Set(keep.map((o) => `${groupKind(o)}/${o.metadata.namespace ?? ''}/${o.metadata.name}`));
  const recorded = await readParent(kc, stack.namespace);
  const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
  const preferred = new Map(groups.groups.map((g) => [g.name, g.preferredVersion?.groupVersion ?? g.versions[0]!.groupVersion]));
  const selector = `${PART_OF}=${applySetId(APPLYSET_PARENT, stack.namespace)}`;
  const removed: string[] = [];
  for (const gk of recorded.groupKinds) {
    const [kind, ...group] = gk.split('.');
    const apiVersion = group.length ? preferred.get(group.join('.')) : 'v1';
    if (!apiVersion) continue; // the API group is gone (a CRD removed): nothing of it is left
    const namespaced = await api.namespaced(apiVersion, kind!);
    if (namespaced === undefined) continue;
    for (const ns of namespaced ? [stack.namespace, ...recorded.namespaces] : [undefined]) {
      const list = await api.list(apiVersion, kind!, ns, undefined, undefined, undefined, undefined, selector);
      for (const item of list.items) {
        const key = `${gk}/${namespaced ? item.metadata?.namespace : ''}/${item.metadata?.name}`;
        if (wanted.has(key)) continue;
        await api.delete(
          {
            apiVersion,
            kind: kind!,
            metadata: { name: item.metadata!.name!, namespace: namespaced ? item.metadata?.namespace : undefined },
          },
          undefined,
          undefined,
          undefined,
          undefined,
          'Background',
        );
        removed.push(id({ kind, metadata: { name: item.metadata?.name, namespace: namespaced ? item.metadata?.namespace : undefined } }));
      }
    }
  }
  return removed;
}
