// Rollout waits: every Deployment and StatefulSet of a namespace at its wanted count (an
// autoscaled one at least at its HPA's minimum), printing each change of pod state and, on
// timeout, reporting the namespace's pods, events and logs.
import * as k8s from '@kubernetes/client-node';
import { describeNamespace } from './diagnostics.ts';
import { podState } from './pod.ts';

interface Workload {
  id: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  generation: number;
  /** spec.replicas as the API server defaulted it */
  replicas: number;
  status: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number };
}

const asWorkload = (kind: Workload['kind'], o: k8s.V1Deployment | k8s.V1StatefulSet): Workload => ({
  id: `${kind}/${o.metadata!.name!}`,
  kind,
  name: o.metadata!.name!,
  generation: o.metadata?.generation ?? 1,
  replicas: o.spec?.replicas ?? 1,
  status: o.status ?? {},
});

/** Why a workload is not rolled out yet, or undefined when it is. `atLeast` is its HPA's minimum. */
export function rolloutPending(w: Workload, atLeast = 0): string | undefined {
  const s = w.status;
  if ((s.observedGeneration ?? 0) < w.generation) return 'spec not observed yet';
  if (w.replicas < atLeast) return `${w.replicas} replicas, its HorizontalPodAutoscaler's minimum is ${atLeast}`;
  const ready = w.kind === 'Deployment' ? (s.availableReplicas ?? 0) : (s.readyReplicas ?? 0);
  if ((s.updatedReplicas ?? 0) !== w.replicas || ready !== w.replicas || (s.replicas ?? 0) !== w.replicas) {
    return `${ready}/${w.replicas} ready, ${s.updatedReplicas ?? 0} updated`;
  }
  return undefined;
}

export class RolloutTimeoutError extends Error {
  readonly report: string;
  constructor(namespace: string, pending: string[], report: string) {
    super(`Workloads in ${namespace} not ready in time: ${pending.join(', ')}\n${report}`);
    this.name = 'RolloutTimeoutError';
    this.report = report;
  }
}

/**
 * Waits until every Deployment and StatefulSet of the namespace has rolled out, an autoscaled
 * one to at least its HPA's minReplicas (the HPA scales a fresh Deployment up from one).
 */
export async function waitUntilRolledOut(
  kc: k8s.KubeConfig,
  namespace: string,
  opts: { timeoutMs: number; intervalMs?: number; log?: (line: string) => void },
): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const autoscaling = kc.makeApiClient(k8s.AutoscalingV2Api);
  const log = opts.log ?? (() => {});
  const deadline = Date.now() + opts.timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    const [deployments, statefulSets, hpas, pods] = await Promise.all([
      apps.listNamespacedDeployment({ namespace }),
      apps.listNamespacedStatefulSet({ namespace }),
      autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace }),
      core.listNamespacedPod({ namespace }),
    ]);
    const workloads = [
      ...deployments.items.map((d) => asWorkload('Deployment', d)),
      ...statefulSets.items.map((s) => asWorkload('StatefulSet', s)),
    ];
    const minimum = (w: Workload) =>
      hpas.items.find((h) => h.spec?.scaleTargetRef.kind === w.kind && h.spec.scaleTargetRef.name === w.name)?.spec?.minReplicas ?? 0;
    const pending = workloads.flatMap((w) => {
      const why = rolloutPending(w, minimum(w));
      return why ? [`${w.id} (${why})`] : [];
    });
    for (const p of pods.items.map(podState)) {
      const line = `${p.name}: ${p.waitingOn}${p.restarts ? ` (${p.restarts} restarts)` : ''}`;
      if (seen.get(p.name) !== line) log(line);
      seen.set(p.name, line);
    }
    if (workloads.length > 0 && pending.length === 0) return;
    if (Date.now() > deadline) throw new RolloutTimeoutError(namespace, pending, await describeNamespace(kc, namespace, 30));
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
  }
}

/** What `kubectl rollout restart` does: a new template annotation, so a new ReplicaSet rolls in. */
export async function restartDeployment(kc: k8s.KubeConfig, namespace: string, name: string): Promise<void> {
  await kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
    {
      name,
      namespace,
      body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
}

/** What `kubectl scale deployment/<name> --replicas=N` does (an HPA leaves a Deployment at 0 alone). */
export async function scaleDeployment(kc: k8s.KubeConfig, namespace: string, name: string, replicas: number): Promise<void> {
  await kc
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedDeploymentScale(
      { name, namespace, body: { spec: { replicas } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
}
