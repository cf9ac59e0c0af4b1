// The NetworkPolicies, probed for real from inside pods. Every denial is paired with a positive
// control in the same test: the same probe, from or to where it is allowed, must succeed first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { canConnect, createProbePod, networkPolicyEnforcement, resolves } from '../support/probes.ts';
import { deletePod, podOf } from '../../lib/kube/pod.ts';
import { ensureNamespace } from '../../lib/kube/namespace.ts';

const ns = stack.namespace;
const core = kc.makeApiClient(k8s.CoreV1Api);
const OTHER_NS = 'netpol-elsewhere';
/** Where k3s runs its gateway proxy (Traefik); a probe there carries the proxy's label. */
const PROXY_NS = 'kube-system';
let probeImage = '';

async function app(name: string) {
  return (await podOf(kc, ns, name)).metadata!.name!;
}

beforeAll(async () => {
  // The probe pods run the fake upstream's image, which is already in the node.
  const fake = await podOf(kc, ns, 'fake-anthropic');
  probeImage = fake.spec!.containers[0]!.image!;
  await ensureNamespace(kc, OTHER_NS, { 'pod-security.kubernetes.io/enforce': 'restricted' });
  await Promise.all([
    createProbePod(kc, ns, 'probe-unlabelled', probeImage, { run: 'probe' }),
    createProbePod(kc, OTHER_NS, 'probe-elsewhere', probeImage, { 'app.kubernetes.io/name': 'open-webui' }),
    // Traefik's name label but not its instance label: selected like the proxy by policies, not by its Service.
    createProbePod(kc, PROXY_NS, 'probe-proxy', probeImage, { 'app.kubernetes.io/name': 'traefik' }),
  ]);
}, 180_000);

afterAll(async () => {
  await deletePod(kc, ns, 'probe-unlabelled');
  await deletePod(kc, PROXY_NS, 'probe-proxy');
  await core.deleteNamespace({ name: OTHER_NS }).catch(() => undefined);
});

async function podIp(namespace: string, name: string): Promise<string> {
  return (await core.readNamespacedPod({ name, namespace })).status!.podIP!;
}

describe('NetworkPolicy enforcement', { timeout: 120_000 }, () => {
  it('has a policy controller running in the node', async () => {
    expect(stack.clusterId, 'the suite runs on its own k3s node').toBeDefined();
    const evidence = await networkPolicyEnforcement(stack.clusterId!);
    expect(evidence.running, evidence.detail).toBe(true);
  });

  it('lets Open WebUI reach LiteLLM:4000, but not a pod without the allowing labels', async () => {
    expect(await canConnect(kc, ns, await app('open-webui'), 'open-webui', 'python', 'litellm', 4000)).toBe(true);
    expect(await canConnect(kc, ns, 'probe-unlabelled', 'probe', 'node', 'litellm', 4000)).toBe(false);
  });

  it('lets LiteLLM reach the fake upstream, but not Open WebUI', async () => {
    expect(await canConnect(kc, ns, await app('litellm'), 'litellm', 'python', 'fake-anthropic', 8080)).toBe(true);
    expect(await canConnect(kc, ns, await app('open-webui'), 'open-webui', 'python', 'fake-anthropic', 8080)).toBe(false);
  });

  it('lets pods resolve names, but not reach the Kubernetes API', async () => {
    // Positive control for the API: the probe pod in another namespace (no policies) reaches it.
    expect(await canConnect(kc, OTHER_NS, 'probe-elsewhere', 'probe', 'node', 'kubernetes.default.svc.cluster.local', 443)).toBe(true);
    for (const [pod, container, runtime] of [
      [await app('open-webui'), 'open-webui', 'python'],
      [await app('litellm'), 'litellm', 'python'],
    ] as const) {
      expect(await resolves(kc, ns, pod, container, runtime, 'kubernetes.default.svc.cluster.local')).toBe(true);
      expect(await canConnect(kc, ns, pod, container, runtime, 'kubernetes.default.svc.cluster.local', 443)).toBe(false);
    }
  });

  it("keeps the namespace's pods away from other namespaces' pods", async () => {
    const target = await podIp(OTHER_NS, 'probe-elsewhere');
    // Positive control: the same target answers a pod that no policy restricts.
    expect(await canConnect(kc, PROXY_NS, 'probe-proxy', 'probe', 'node', target, 8080)).toBe(true);
    expect(await canConnect(kc, ns, await app('open-webui'), 'open-webui', 'python', target, 8080)).toBe(false);
    expect(await canConnect(kc, ns, await app('litellm'), 'litellm', 'python', target, 8080)).toBe(false);
  });

  it('keeps Open WebUI off the pod network: dev has no way in, not even from the gateway proxy', async () => {
    // Positive control: the same probes reach a pod no policy restricts (the port-forwards the
    // dev stack is used through pass through the kubelet, not the pod network).
    expect(await canConnect(kc, PROXY_NS, 'probe-proxy', 'probe', 'node', await podIp(OTHER_NS, 'probe-elsewhere'), 8080)).toBe(true);
    expect(await canConnect(kc, OTHER_NS, 'probe-elsewhere', 'probe', 'node', await podIp(PROXY_NS, 'probe-proxy'), 8080)).toBe(true);
    const target = await podIp(ns, await app('open-webui'));
    expect(await canConnect(kc, PROXY_NS, 'probe-proxy', 'probe', 'node', target, 8080)).toBe(false);
    expect(await canConnect(kc, OTHER_NS, 'probe-elsewhere', 'probe', 'node', target, 8080)).toBe(false);
    expect(await canConnect(kc, ns, 'probe-unlabelled', 'probe', 'node', target, 8080)).toBe(false);
  });
});
