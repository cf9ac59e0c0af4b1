// The HorizontalPodAutoscalers act on real CPU figures: the node runs metrics-server (as k3s
// does), so each HPA reads its Deployment's utilisation against the CPU request. Without a
// metrics API they would hold minReplicas and report FailedGetResourceMetric.
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';

const ns = stack.namespace;
const autoscaling = kc.makeApiClient(k8s.AutoscalingV2Api);

function cpuReading(hpa: k8s.V2HorizontalPodAutoscaler): { active?: string; reason?: string; utilization?: number } {
  const active = hpa.status?.conditions?.find((c) => c.type === 'ScalingActive');
  const cpu = hpa.status?.currentMetrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
  return { active: active?.status, reason: active?.reason, utilization: cpu?.resource?.current.averageUtilization };
}

describe('autoscaling on CPU', { timeout: 180_000 }, () => {
  it.each(['open-webui', 'litellm'])("HorizontalPodAutoscaler/%s reads its pods' CPU utilisation", async (name) => {
    const metrics = await kc.makeApiClient(k8s.ApiregistrationV1Api).readAPIService({ name: 'v1beta1.metrics.k8s.io' });
    expect(metrics.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');

    // The HPA controller syncs every 15 s and metrics-server samples every 15 s.
    await expect
      .poll(async () => cpuReading(await autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace: ns })), {
        timeout: 150_000,
        interval: 3_000,
      })
      .toMatchObject({ active: 'True', reason: 'ValidMetricFound', utilization: expect.any(Number) });
    const hpa = await autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace: ns });
    const pods = kc.makeApiClient(k8s.CoreV1Api);
    const selector = (await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name, namespace: ns })).spec!.selector.matchLabels!;
    const running = (
      await pods.listNamespacedPod({
        namespace: ns,
        labelSelector: Object.entries(selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      })
    ).items;
    console.log(
      `[autoscaling] ${name}: ${cpuReading(hpa).utilization}% of the CPU request across ${running.length} pod(s); desired ${hpa.status?.desiredReplicas}`,
    );
    expect(hpa.status?.desiredReplicas).toBeGreaterThanOrEqual(hpa.spec!.minReplicas!);
  });
});
