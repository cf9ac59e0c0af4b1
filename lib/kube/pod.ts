// Pods, one file as Terratest has one per kind: state, readiness waits whose errors say what the
// pod waits on, deletion, logs, and execIn (exec.ts collecting the output).
import * as k8s from '@kubernetes/client-node';
import { apiMessage } from './config.ts';
import { exec, type ExecResult } from './exec.ts';

export type { ExecResult };
import { waitUntil, type WaitOptions } from '../wait.ts';

export function isPodReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

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
  const ready = isPodReady(pod);
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

export async function listPods(kc: k8s.KubeConfig, namespace: string, labelSelector?: string): Promise<k8s.V1Pod[]> {
  return (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace, labelSelector })).items;
}

const appSelector = (app: string) => `app.kubernetes.io/name=${app}`;

/** An app's Ready pods that are not being deleted (a terminating pod can stay Ready for a while). */
export async function readyPods(kc: k8s.KubeConfig, namespace: string, app: string): Promise<k8s.V1Pod[]> {
  return (await listPods(kc, namespace, appSelector(app))).filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp);
}

/** A running, not terminating pod of an app (by app.kubernetes.io/name); throws naming what there is. */
export async function podOf(kc: k8s.KubeConfig, namespace: string, app: string): Promise<k8s.V1Pod> {
  const pods = await listPods(kc, namespace, appSelector(app));
  const running = pods.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (running.length === 0)
    throw new Error(
      `no running pod of ${app} in ${namespace} (${pods.map((p) => `${p.metadata?.name}: ${p.status?.phase}`).join(', ') || 'none'})`,
    );
  return running[0]!;
}

/** Waits until the named pod is Ready; the error carries what it waits on. */
export async function waitUntilPodReady(kc: k8s.KubeConfig, namespace: string, name: string, opts: WaitOptions): Promise<k8s.V1Pod> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const read = () => core.readNamespacedPod({ name, namespace });
  return waitUntil(
    `pod ${namespace}/${name} Ready`,
    async () => {
      const pod = await read();
      return isPodReady(pod) ? pod : undefined;
    },
    { ...opts, describe: async () => podState(await read()).waitingOn },
  );
}

/** Waits until an app has a Ready pod that is not one of `exclude` (a replacement after a deletion). */
export async function waitUntilAppPodReady(
  kc: k8s.KubeConfig,
  namespace: string,
  app: string,
  opts: WaitOptions & { exclude?: string[] },
): Promise<k8s.V1Pod> {
  const candidates = async () =>
    (await listPods(kc, namespace, appSelector(app))).filter(
      (p) => !opts.exclude?.includes(p.metadata!.name!) && !p.metadata?.deletionTimestamp,
    );
  return waitUntil(
    `a Ready pod of ${app} in ${namespace}${opts.exclude?.length ? ` other than ${opts.exclude.join(', ')}` : ''}`,
    async () => (await candidates()).find(isPodReady),
    {
      ...opts,
      describe: async () => (await candidates()).map((p) => `${p.metadata!.name}: ${podState(p).waitingOn}`).join('; ') || 'no pod',
    },
  );
}

/** Waits until the pod has run to completion; returns its phase, 'Succeeded' or 'Failed'. */
export async function waitUntilPodFinished(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  opts: WaitOptions,
): Promise<'Succeeded' | 'Failed'> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const read = () => core.readNamespacedPod({ name, namespace });
  return waitUntil(
    `pod ${namespace}/${name} finished`,
    async () => {
      const phase = (await read()).status?.phase;
      return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
    },
    { ...opts, describe: async () => podState(await read()).waitingOn },
  );
}

/** Deletes a pod at once; a pod that is already gone is fine. */
export async function deletePod(kc: k8s.KubeConfig, namespace: string, name: string, gracePeriodSeconds = 0): Promise<void> {
  await kc
    .makeApiClient(k8s.CoreV1Api)
    .deleteNamespacedPod({ name, namespace, gracePeriodSeconds })
    .catch((err: { code?: number }) => {
      if (err.code !== 404) throw err;
    });
}

/** The last `lines` log lines of a container (the previous instance's when `previous`). */
export async function containerLogs(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  lines: number,
  previous = false,
): Promise<string> {
  try {
    return await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPodLog({ name: pod, namespace, container, tailLines: lines, previous });
  } catch (err) {
    return `(no logs: ${apiMessage(err)})`;
  }
}

/** Runs a command in a container and collects its exit code and output (never a TTY). */
export async function execIn(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  timeoutMs = 30_000,
): Promise<ExecResult> {
  const r = await exec(kc, namespace, pod, container, command, { timeoutMs });
  return { ...r, stderr: r.stderr || r.message };
}
