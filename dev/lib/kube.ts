// Talking to the cluster: server-side apply with a dry run first, pruning, rollout waits that
// say what each pod is waiting on, and failure reports carrying the pods' real state.
import * as k8s from '@kubernetes/client-node';
import type { KubeObject } from './kustomize.ts';

export const FIELD_MANAGER = 'chat-stack';
/** Every object the harness applies carries this label (value: the overlay), so prune can find it. */
export const APPLIED_BY = 'chat-stack.dev/overlay';

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

export function kubeConfigFrom(yamlText: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(yamlText);
  return kc;
}

export function kubeConfigFromFile(path: string, context?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context)) {
      throw new Error(`No context "${context}" in ${path}. Contexts: ${kc.getContexts().map((c) => c.name).join(', ')}`);
    }
    kc.setCurrentContext(context);
  }
  return kc;
}

function id(o: { kind?: string; metadata?: { name?: string; namespace?: string } }): string {
  return `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name}`;
}

/** The API's own message for a failed call (status message or body), not just "HTTP 422". */
export function apiMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string; code?: number };
  if (typeof e.body === 'string') {
    try {
      return (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      return e.body;
    }
  }
  if (e.body && typeof e.body === 'object') return (e.body as { message?: string }).message ?? JSON.stringify(e.body);
  // fetch's own "fetch failed" hides the reason (refused, TLS name mismatch...) in its cause.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `${e.message ?? String(err)}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})`.replace('( ', '(') : ''}`;
}

/**
 * Server-side apply that sends the rendered JSON as it is. KubernetesObjectApi.patch() passes
 * objects through client-node's typed models, which silently drop fields whose model property is
 * renamed: NetworkPolicy's `from` (`_from` in the model) vanished, leaving every ingress rule open
 * to all sources. The live NetworkPolicy tests caught it; this class keeps client-node's URL
 * discovery and auth but not its serializer. `fieldValidation=Strict` rejects unknown fields.
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

function labelled(o: KubeObject, overlay: string): KubeObject {
  return { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, [APPLIED_BY]: overlay } } };
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
export async function applyObjects(kc: k8s.KubeConfig, objects: KubeObject[], overlay: string, log: (s: string) => void = () => {}): Promise<{ applied: number; pruned: string[] }> {
  const api = ApplyApi.forConfig(kc);
  const items = ordered(objects).map((o) => labelled(o, overlay));
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
  const pruned = await prune(kc, items);
  for (const p of pruned) log(`pruned ${p}`);
  return { applied: items.length, pruned };
}

async function namespaceExists(kc: k8s.KubeConfig, name: string): Promise<boolean> {
  try {
    await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name });
    return true;
  } catch {
    return false;
  }
}

/** Deletes objects labelled by this harness that are not in `keep`. */
export async function prune(kc: k8s.KubeConfig, keep: KubeObject[]): Promise<string[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const wanted = new Set(keep.map((o) => id({ kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } })));
  const removed: string[] = [];
  for (const t of PRUNABLE) {
    const list = await api.list(t.apiVersion, t.kind, undefined, undefined, undefined, undefined, undefined, APPLIED_BY);
    for (const item of list.items) {
      const o = { kind: t.kind, metadata: { name: item.metadata?.name, namespace: t.namespaced ? item.metadata?.namespace : undefined } };
      if (wanted.has(id(o))) continue;
      await api.delete({ apiVersion: t.apiVersion, kind: t.kind, metadata: { name: item.metadata!.name!, namespace: o.metadata.namespace } }, undefined, undefined, undefined, undefined, 'Background');
      removed.push(id(o));
    }
  }
  return removed;
}

// ---- rollouts -----------------------------------------------------------------------------

export interface PodState {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  /** What the pod waits on: a container's waiting reason, an unready container, or its phase. */
  waitingOn: string;
}

export function podState(pod: k8s.V1Pod): PodState {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const waiting = statuses.find((s) => s.state?.waiting)?.state?.waiting;
  const terminated = statuses.find((s) => s.state?.terminated && s.state.terminated.exitCode !== 0)?.state?.terminated;
  const unready = (pod.status?.containerStatuses ?? []).find((s) => !s.ready);
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status !== 'True');
  const waitingOn = ready
    ? 'ready'
    : waiting
      ? `${waiting.reason}${waiting.message ? `: ${waiting.message.slice(0, 160)}` : ''}`
      : terminated
        ? `exited ${terminated.exitCode} (${terminated.reason ?? 'Error'})`
        : unscheduled
          ? `unschedulable: ${unscheduled.message ?? unscheduled.reason}`
          : unready
            ? `container ${unready.name} not ready (probes)`
            : (pod.status?.phase ?? 'Pending');
  return {
    name: pod.metadata?.name ?? '?',
    phase: pod.status?.phase ?? 'Unknown',
    ready,
    restarts: statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0),
    waitingOn,
  };
}

function deploymentDone(d: k8s.V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (s.updatedReplicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want
  );
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  log?: (line: string) => void;
}

export class RolloutTimeoutError extends Error {
  readonly report: string;
  constructor(namespace: string, pending: string[], report: string) {
    super(`Deployments in ${namespace} not ready in time: ${pending.join(', ')}\n${report}`);
    this.name = 'RolloutTimeoutError';
    this.report = report;
  }
}

/** Waits until every Deployment of the namespace has rolled out, printing each change of pod state. */
export async function waitUntilRolledOut(kc: k8s.KubeConfig, namespace: string, opts: WaitOptions): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const log = opts.log ?? (() => {});
  const deadline = Date.now() + opts.timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    const deployments = (await apps.listNamespacedDeployment({ namespace })).items;
    const pending = deployments.filter((d) => !deploymentDone(d)).map((d) => d.metadata!.name!);
    const pods = (await core.listNamespacedPod({ namespace })).items;
    for (const p of pods.map(podState)) {
      const line = `${p.name}: ${p.waitingOn}${p.restarts ? ` (${p.restarts} restarts)` : ''}`;
      if (seen.get(p.name) !== line) log(line);
      seen.set(p.name, line);
    }
    if (deployments.length > 0 && pending.length === 0) return;
    if (Date.now() > deadline) throw new RolloutTimeoutError(namespace, pending, await describeNamespace(kc, namespace, 30));
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
  }
}

// ---- diagnostics --------------------------------------------------------------------------

/** The last `lines` log lines of a container (the previous instance's when `previous`). */
export async function containerLogs(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, lines: number, previous = false): Promise<string> {
  try {
    return await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPodLog({ name: pod, namespace, container, tailLines: lines, previous });
  } catch (err) {
    return `(no logs: ${apiMessage(err)})`;
  }
}

/** Pods with their state, the namespace's events, and each container's last log lines. */
export async function describeNamespace(kc: k8s.KubeConfig, namespace: string, logLines: number): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const parts: string[] = [];
  const pods = (await core.listNamespacedPod({ namespace })).items;
  for (const pod of pods) {
    const s = podState(pod);
    parts.push(`--- pod ${s.name}: phase ${s.phase}, ${s.waitingOn}, ${s.restarts} restarts`);
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      parts.push(`    [${c.name}] last ${logLines} log lines:`);
      parts.push((await containerLogs(kc, namespace, s.name, c.name, logLines)).replace(/^/gm, '      '));
      if (s.restarts > 0) {
        parts.push(`    [${c.name}] previous instance:`);
        parts.push((await containerLogs(kc, namespace, s.name, c.name, logLines, true)).replace(/^/gm, '      '));
      }
    }
  }
  const events = (await core.listNamespacedEvent({ namespace })).items.sort(
    (a, b) => new Date(String(a.lastTimestamp ?? a.eventTime ?? 0)).getTime() - new Date(String(b.lastTimestamp ?? b.eventTime ?? 0)).getTime(),
  );
  parts.push('--- events');
  for (const e of events.slice(-40)) {
    parts.push(`  ${e.type} ${e.reason} ${e.involvedObject?.kind}/${e.involvedObject?.name}: ${e.message}`);
  }
  return parts.join('\n');
}
