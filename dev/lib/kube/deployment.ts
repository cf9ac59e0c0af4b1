// Deployments: rollout waits that print each change of pod state and, on timeout, report the
// namespace's pods, events and logs.
import * as k8s from '@kubernetes/client-node';
import { describeNamespace } from './diagnostics.ts';
import { podState } from './pod.ts';

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

export class RolloutTimeoutError extends Error {
  readonly report: string;
  constructor(namespace: string, pending: string[], report: string) {
    super(`Deployments in ${namespace} not ready in time: ${pending.join(', ')}\n${report}`);
    this.name = 'RolloutTimeoutError';
    this.report = report;
  }
}

/** Waits until every Deployment of the namespace has rolled out, printing each change of pod state. */
export async function waitUntilRolledOut(kc: k8s.KubeConfig, namespace: string, opts: { timeoutMs: number; intervalMs?: number; log?: (line: string) => void }): Promise<void> {
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

