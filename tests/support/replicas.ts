// One port-forward per running pod of an app, each pinned to its pod: a test talks to every
// replica on its own instead of whichever the Service picks.
import { expect } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { kc, stack } from './live.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';

/**
 * Forwards to each pod of `app` (a Service of the same name), expecting at least `atLeast` of
 * them: the HPA owns the count, and traffic from other tests may have raised it. `target`: another
 * stack on the node than the project's own.
 */
export async function forwardEachPod(
  app: string,
  atLeast: number,
  target: { kc: KubeConfig; namespace: string } = { kc, namespace: stack.namespace },
): Promise<Forward[]> {
  const pods = (await listPods(target.kc, target.namespace, `app.kubernetes.io/name=${app}`))
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!);
  expect(pods.length, `running ${app} pods: ${pods.join(', ')}`).toBeGreaterThanOrEqual(atLeast);
  return Promise.all(pods.map((pod) => forwardService(target.kc, target.namespace, app, { pod })));
}

export const closeAll = (forwards: Forward[]) => Promise.all(forwards.map((f) => f.close()));
