// overlays/production-selfhosted as deployed: both apps at their autoscalers' minimum, the
// datastores up, nothing restarted, the live objects what the overlay renders, admission by the
// namespace's "restricted" policy.
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { isPodReady } from '../../lib/kube/pod.ts';
import { expectLiveEqualsRender } from '../support/live-objects.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';

const apps = kc.makeApiClient(k8s.AppsV1Api);
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = stack.namespace;

describe('the production-selfhosted stack', { timeout: 180_000 }, () => {
  // The HPAs own the apps' replica count: two at idle, more if another test's traffic (the
  // rollout's streams, say) has pushed CPU over the target within the last minutes.
  const autoscaled = async () =>
    Object.fromEntries(
      (await kc.makeApiClient(k8s.AutoscalingV2Api).listNamespacedHorizontalPodAutoscaler({ namespace: ns })).items.map((h) => [
        h.metadata!.name!,
        h,
      ]),
    );

  it("runs each app at its HPA's count (two at least), Postgres and Redis, every pod Ready and never restarted", async () => {
    // A scale-up the HPA has just asked for finishes first: then every count is settled.
    await waitUntilRolledOut(kc, ns, { timeoutMs: 120_000 });
    const ready = async (kind: 'Deployment' | 'StatefulSet') =>
      Object.fromEntries(
        (kind === 'Deployment'
          ? (await apps.listNamespacedDeployment({ namespace: ns })).items
          : (await apps.listNamespacedStatefulSet({ namespace: ns })).items
        ).map((w) => [w.metadata!.name!, w.status?.readyReplicas ?? 0]),
      );
    const wanted = async (name: string) => (await apps.readNamespacedDeployment({ name, namespace: ns })).spec!.replicas!;
    const want = { 'open-webui': await wanted('open-webui'), litellm: await wanted('litellm') };
    expect(Math.min(...Object.values(want))).toBeGreaterThanOrEqual(2);
    expect(await ready('Deployment')).toEqual({ ...want, redis: 1, 'fake-anthropic': 1 });
    expect(await ready('StatefulSet')).toEqual({ postgres: 1 });
    // A pod another test evicted or replaced may still be draining (preStop, grace period).
    const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods).toHaveLength(want['open-webui'] + want.litellm + 3);
    for (const p of pods) {
      expect(isPodReady(p), p.metadata!.name).toBe(true);
      for (const c of p.status?.containerStatuses ?? []) expect(c.restartCount, `${p.metadata!.name}/${c.name} restarts`).toBe(0);
    }
  });

  it('lets the HorizontalPodAutoscalers own the replica count (the Deployments pin none)', async () => {
    const hpas = await autoscaled();
    expect(
      Object.values(hpas)
        .map((h) => [h.metadata!.name, h.spec!.minReplicas, h.spec!.maxReplicas])
        .sort(),
    ).toEqual([
      ['litellm', 2, 6],
      ['open-webui', 2, 4],
    ]);
    // The Deployment runs what the HPA sets, within its bounds. The HPA acts every 15 s: after
    // another test scaled a Deployment by hand (the migrations test takes Open WebUI to zero and
    // back), its status catches up at its next sync.
    for (const name of Object.keys(hpas)) {
      const agreed = async () => {
        const h = (await autoscaled())[name]!;
        const d = await apps.readNamespacedDeployment({ name: h.spec!.scaleTargetRef.name, namespace: ns });
        return { deployment: d.spec!.replicas, hpa: h.status?.desiredReplicas, min: h.spec!.minReplicas!, max: h.spec!.maxReplicas };
      };
      await expect
        .poll(
          async () => {
            const a = await agreed();
            return a.deployment === a.hpa;
          },
          { timeout: 90_000, interval: 2_000 },
        )
        .toBe(true);
      const a = await agreed();
      expect(a.hpa, name).toBeGreaterThanOrEqual(a.min);
      expect(a.hpa, name).toBeLessThanOrEqual(a.max);
    }
  });

  it('is what the overlay renders, field for field', async () => {
    const kinds = ['NetworkPolicy', 'Service', 'Deployment', 'StatefulSet', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ConfigMap'];
    expect(await expectLiveEqualsRender(kc, stack.dir, kinds)).toBeGreaterThan(20);
  });

  it('was admitted by a namespace that enforces Pod Security "restricted"', async () => {
    const labels = (await core.readNamespace({ name: ns })).metadata!.labels!;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    // Every pod exists, so admission let each of them in; none runs as root.
    for (const p of (await core.listNamespacedPod({ namespace: ns })).items) {
      expect(p.spec!.securityContext!.runAsNonRoot, p.metadata!.name).toBe(true);
    }
  });

  it("binds Postgres to a ReadWriteOnce claim and Open WebUI's uploads to a ReadWriteMany one", async () => {
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
    const modes = Object.fromEntries(claims.map((c) => [c.metadata!.name!, [c.status?.phase, ...(c.spec!.accessModes ?? [])]]));
    expect(modes).toEqual({ 'open-webui-data': ['Bound', 'ReadWriteMany'], 'data-postgres-0': ['Bound', 'ReadWriteOnce'] });
  });
});
