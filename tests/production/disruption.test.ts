// The PodDisruptionBudgets hold: with maxUnavailable 1, evicting one LiteLLM pod is allowed
// (positive control), and evicting another before the replacement is Ready is refused, at
// whatever replica count (2 or more) the HPA holds.
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { apiMessage } from '../../lib/kube/config.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';

const ns = stack.namespace;
const core = kc.makeApiClient(k8s.CoreV1Api);

const evict = (name: string) =>
  core
    .createNamespacedPodEviction({
      name,
      namespace: ns,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
    })
    .then(
      () => 'evicted',
      (e: unknown) => apiMessage(e),
    );

describe('PodDisruptionBudget', { timeout: 300_000 }, () => {
  it('lets one LiteLLM pod be evicted, then refuses the second', async () => {
    const budget = await kc.makeApiClient(k8s.PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'litellm', namespace: ns });
    expect(budget.status?.disruptionsAllowed).toBe(1);
    const pods = (await listPods(kc, ns, 'app.kubernetes.io/name=litellm')).map((p) => p.metadata!.name!);
    expect(pods.length).toBeGreaterThanOrEqual(2);
    expect(await evict(pods[0]!)).toBe('evicted');
    // The replacement takes seconds to be Ready; until then the budget has no disruption left.
    expect(await evict(pods[1]!)).toMatch(/Cannot evict pod as it would violate the pod's disruption budget/);
    await waitUntilRolledOut(kc, ns, { timeoutMs: 240_000 });
    expect((await listPods(kc, ns, 'app.kubernetes.io/name=litellm')).map((p) => p.metadata!.name)).toContain(pods[1]);
  });
});
