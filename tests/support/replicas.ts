// One port-forward per running pod of an app, each pinned to its pod: a test talks to every
// replica on its own instead of whichever the Service picks.
import { expect } from 'vitest';
import { kc, stack } from './live.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';

/**
 * Forwards to each pod of `app` (a Service of the same name), expecting at least `atLeast` of
 * them: the HPA owns the count, and traffic from other tests may have raised it.
 */
export async function forwardEachPod(app: string, atLeast: number): Promise<Forward[]> {
  const pods = (await listPods(kc, stack.namespace, `app.kubernetes.io/name=${app}`))
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!);
  expect(pods.length, `running ${app} pods: ${pods.join(', ')}`).toBeGreaterThanOrEqual(atLeast);
  return Promise.all(pods.map((pod) => forwardService(kc, stack.namespace, app, { pod })));
}

export const closeAll = (forwards: Forward[]) => Promise.all(forwards.map((f) => f.close()));
