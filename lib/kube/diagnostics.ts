// What a failure report needs: every pod's state, its containers' last log lines (the previous
// instance's too after a restart) and the namespace's events.
import * as k8s from '@kubernetes/client-node';
import { containerLogs, podState } from './pod.ts';

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
    (a, b) =>
      new Date(String(a.lastTimestamp ?? a.eventTime ?? 0)).getTime() - new Date(String(b.lastTimestamp ?? b.eventTime ?? 0)).getTime(),
  );
  parts.push('--- events');
  for (const e of events.slice(-40)) {
    parts.push(`  ${e.type} ${e.reason} ${e.involvedObject?.kind}/${e.involvedObject?.name}: ${e.message}`);
  }
  return parts.join('\n');
}
