// The k3s-compatible node image (images/k3s) booted exactly as users boot k3s: with
// @testcontainers/k3s's K3sContainer, which waits for "Node controller sync successful".
// Proves: API + Ready node, pods from preloaded images (logs readable), Service DNS (CoreDNS),
// PVC on local-path, NetworkPolicy enforcement (positive control, deny, allow again), the
// resource metrics API (metrics-server), Traefik serving the Gateway API once the harness's
// HelmChartConfig turns its provider on (off by default, as k3s ships it: src/helmchartconfig_test.go
// proves the default without a second boot), k3s's registries.yaml honoured by containerd (a mirror
// with a prefix rewrite, which the kubelet's pull really asks), nothing else pulled from a
// registry, and a clean tear-down.
import type { StartedK3sContainer } from '@testcontainers/k3s';
import * as k8s from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from '../factory/build.ts';
import { docker } from '../../lib/docker.ts';
import { IMAGES_DIR } from '../factory/recipes.ts';
import { useLocalRyuk } from '../factory/testcontainers.ts';
import {
  AGENT_DIR,
  CLUSTER_LABEL,
  hostUsesCgroupV1,
  REGISTRIES_YAML,
  startCluster,
  TRAEFIK_GATEWAY_CONFIG,
} from '../../dev/lib/cluster.ts';
import type { Mirror } from '../../lib/registry-mirror.ts';
import { deletePod, waitUntilPodFinished, waitUntilPodReady } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';

const recipe = JSON.parse(readFileSync(path.join(IMAGES_DIR, 'k3s', 'image.json'), 'utf8')) as {
  inputs: Record<string, string>;
};
const BUSYBOX = recipe.inputs.helperImage; // preloaded in the node, also the local-path helper
const NS = 'smoke';

let node: StartedK3sContainer | undefined;
let stopped = false;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let net: k8s.NetworkingV1Api;
let volumes: string[] = [];
let hostCgroupDir = '';
const label = `cluster-smoke-${process.pid}`;
/**
 * A docker.io mirror that cannot exist (.invalid), under a path prefix: startCluster writes it
 * into the node's registries.yaml as k3s users do (an endpoint and a `"^(.*)$": "dockerhub/$1"`
 * rewrite). Nothing in this file pulls from docker.io except the probe that shows where it goes.
 */
const PROBE_MIRROR: Mirror = { registry: 'docker.io', host: 'mirror.invalid:5000', prefix: 'dockerhub', insecure: true };
const CERTS_D = `${AGENT_DIR}/etc/containerd/certs.d`;
const PULL_NS = 'pull-probe';

const log = (line: string) => console.log(`[cluster.test] ${line}`);

async function nodeExec(cmd: string[]): Promise<string> {
  const r = await node!.exec(cmd);
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}: ${r.output}`);
  return r.output;
}

interface PodExtras {
  volumeMounts?: k8s.V1VolumeMount[];
  volumes?: k8s.V1Volume[];
}

function pod(name: string, command: string[], extras: PodExtras = {}): k8s.V1Pod {
  return {
    metadata: { name, namespace: NS },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'main', image: BUSYBOX, imagePullPolicy: 'Never', command, volumeMounts: extras.volumeMounts }],
      volumes: extras.volumes,
    },
  };
}

/** Runs a one-shot busybox pod; returns its phase and logs. */
async function runPod(name: string, command: string[], extras: PodExtras = {}): Promise<{ phase: string; logs: string }> {
  await core.createNamespacedPod({ namespace: NS, body: pod(name, command, extras) });
  const phase = await waitUntilPodFinished(kc, NS, name, { timeoutMs: 90_000, intervalMs: 500 });
  const logs = String(await core.readNamespacedPodLog({ name, namespace: NS, container: 'main' }));
  if (phase !== 'Succeeded') {
    const state = (await core.readNamespacedPod({ name, namespace: NS })).status?.containerStatuses?.[0]?.state?.terminated;
    return { phase, logs: `${logs}[${state?.reason ?? '?'} exit ${state?.exitCode ?? '?'}: ${state?.message ?? ''}]` };
  }
  return { phase, logs };
}

let probeCount = 0;
/** One HTTP probe from a fresh client pod to the web Service; true when it got the page. */
async function probeWeb(ip: string): Promise<boolean> {
  const name = `probe-${++probeCount}`;
  // busybox nc, not wget: Debian's static busybox 1.35 wget segfaults (seen here).
  const r = await runPod(name, [
    'sh',
    '-c',
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 8080 | grep hello-from-web && echo PROBE-OK`,
  ]);
  await deletePod(kc, NS, name);
  return r.phase === 'Succeeded' && r.logs.includes('hello-from-web') && r.logs.includes('PROBE-OK');
}

beforeAll(async () => {
  await useLocalRyuk({ log });
  const k3s = await ensureImage('k3s', { log });
  log(`image ${k3s.ref} (${(k3s.sizeBytes / 1e6).toFixed(0)} MB)`);
  // Its own node, not the shared stack's: this file proves a pristine node and its tear-down.
  // startCluster also puts the HelmChartConfig that turns Traefik's Gateway provider on in the
  // manifests directory (TRAEFIK_GATEWAY_CONFIG), as the stack's nodes get it.
  const cluster = await startCluster({ image: k3s.ref, name: label, log, mirrors: [PROBE_MIRROR] });
  node = cluster.container;
  kc = cluster.kc;
  const inspect = JSON.parse(await docker('inspect', node.getId()))[0];
  volumes = (inspect.Mounts as { Type: string; Name?: string }[]).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!);
  const memCgroup = `/sys/fs/cgroup/memory/docker/${node.getId()}`;
  if (hostUsesCgroupV1() && existsSync(memCgroup)) hostCgroupDir = memCgroup;
  core = kc.makeApiClient(k8s.CoreV1Api);
  net = kc.makeApiClient(k8s.NetworkingV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  // The namespace's default ServiceAccount appears asynchronously; pods need it.
  await waitUntil(
    'the default ServiceAccount',
    async () =>
      (await core.listNamespacedServiceAccount({ namespace: NS })).items.some((s) => s.metadata?.name === 'default') ? true : undefined,
    {
      timeoutMs: 30_000,
      intervalMs: 500,
    },
  );
}, 60 * 60_000); // a cold image build compiles Kubernetes

afterAll(async () => {
  if (node && !stopped) await node.stop();
});

describe('k3s-compatible node', () => {
  it('serves the API, with the node Ready and the admin kubeconfig valid', async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes).toHaveLength(1);
    const ready = nodes[0].status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(nodes[0].status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.35\./);
    expect(nodes[0].status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(nodes[0].spec?.podCIDR).toBeTruthy();
  });

  it('runs a pod from a preloaded image to completion and serves its logs', async () => {
    const r = await runPod('hello', ['sh', '-c', 'echo hello-from-preloaded-image; grep "^Seccomp:" /proc/self/status']);
    expect(r.phase).toBe('Succeeded');
    expect(r.logs).toContain('hello-from-preloaded-image');
    expect(r.logs).toMatch(/Seccomp:\s+2/); // RuntimeDefault is enforced: runc was built with libseccomp
  });

  it('resolves a Service name through CoreDNS from a pod', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'web', namespace: NS, labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: BUSYBOX,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www'],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    const svc = await core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 8080, targetPort: 8080 }] } },
    });
    const ip = svc.spec?.clusterIP;
    expect(ip).toMatch(/^10\.43\./);
    // CoreDNS may still be starting right after boot: retry the lookup, each in a fresh pod.
    let attempt = 0;
    await expect
      .poll(
        async () => {
          const name = `dns-${++attempt}`;
          const r = await runPod(name, ['nslookup', `web.${NS}.svc.cluster.local`]);
          await deletePod(kc, NS, name);
          return r.phase === 'Succeeded' ? r.logs : `phase ${r.phase}: ${r.logs}`;
        },
        { timeout: 90_000, interval: 1_000 },
      )
      .toContain(ip!);
  });

  it('binds a PVC on the default local-path StorageClass and a pod writes to it', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: NS,
      body: {
        metadata: { name: 'data', namespace: NS },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } }, // no class: the default
      },
    });
    const r = await runPod('writer', ['sh', '-c', 'echo persisted-by-writer > /data/f && cat /data/f'], {
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    });
    expect(r.phase).toBe('Succeeded');
    expect(r.logs).toContain('persisted-by-writer');
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: NS });
    expect(pvc.status?.phase).toBe('Bound');
    expect(pvc.spec?.storageClassName).toBe('local-path');
    const onNode = await nodeExec(['sh', '-c', 'cat /var/lib/rancher/k3s/storage/*_smoke_data/f']);
    expect(onNode).toContain('persisted-by-writer');
  });

  it('enforces NetworkPolicy: allowed, denied by a policy, allowed again once it is removed', async () => {
    await waitUntilPodReady(kc, NS, 'web', { timeoutMs: 60_000, intervalMs: 500 });
    const ip = (await core.readNamespacedService({ name: 'web', namespace: NS })).spec!.clusterIP!;

    // Positive control: without a policy the probe gets through (else a "denial" proves nothing).
    await expect.poll(() => probeWeb(ip), { timeout: 60_000, interval: 1_000 }).toBe(true);

    await net.createNamespacedNetworkPolicy({
      namespace: NS,
      body: {
        metadata: { name: 'deny-web', namespace: NS },
        spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [] },
      },
    });
    await expect.poll(() => probeWeb(ip), { timeout: 60_000, interval: 1_000 }).toBe(false);
    expect(await probeWeb(ip)).toBe(false); // still denied: not a transient failure
    const chains = await nodeExec(['sh', '-c', 'iptables-save | grep -c "^:KUBE-NWPLCY" || true']);
    expect(Number(chains.trim())).toBeGreaterThan(0);

    await net.deleteNamespacedNetworkPolicy({ name: 'deny-web', namespace: NS });
    await expect.poll(() => probeWeb(ip), { timeout: 60_000, interval: 1_000 }).toBe(true);
  });

  it('serves the resource metrics API (the metrics-server add-on): CPU and memory of the node and of a pod', async () => {
    // What HorizontalPodAutoscalers and `kubectl top` read; k3s ships it, and so does this node.
    const metrics = new k8s.Metrics(kc);
    const nodeName = (await core.listNode()).items[0]!.metadata!.name!;
    // The first sample needs two kubelet scrapes (--metric-resolution=15s) after the pod is up.
    await expect
      .poll(
        async () => (await metrics.getNodeMetrics().catch(() => undefined))?.items.find((n) => n.metadata.name === nodeName)?.usage.cpu,
        { timeout: 120_000, interval: 2_000 },
      )
      .toMatch(/^\d+(n|u|m)?$/);
    await expect
      .poll(async () => (await metrics.getPodMetrics(NS).catch(() => undefined))?.items.some((p) => p.metadata.name === 'web'), {
        timeout: 120_000,
        interval: 2_000,
      })
      .toBe(true);
    const pod = (await metrics.getPodMetrics(NS)).items.find((p) => p.metadata.name === 'web')!;
    expect(pod.containers.map((c) => c.name)).toEqual(['main']);
    expect(pod.containers[0]!.usage.memory).toMatch(/^\d+(Ki|Mi)$/);
    const apiService = await kc.makeApiClient(k8s.ApiregistrationV1Api).readAPIService({ name: 'v1beta1.metrics.k8s.io' });
    expect(apiService.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
  });

  it('routes a Gateway API HTTPRoute through Traefik (the add-on k3s ships), the CRDs at their pinned version', async () => {
    // What turns the provider on, as on k3s: the HelmChartConfig file, applied like any manifest
    // (helm.cattle.io's CRDs are installed) and read by the node before Traefik was deployed.
    expect(await nodeExec(['cat', TRAEFIK_GATEWAY_CONFIG.target])).toBe(TRAEFIK_GATEWAY_CONFIG.content);
    const helmConfig = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: 'helm.cattle.io',
      version: 'v1',
      namespace: 'kube-system',
      plural: 'helmchartconfigs',
      name: 'traefik',
    })) as { spec?: { valuesContent?: string } };
    expect(helmConfig.spec?.valuesContent).toMatch(/kubernetesGateway:\s+enabled: true/);
    const traefik = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'traefik', namespace: 'kube-system' });
    expect(traefik.spec?.template.spec?.containers[0]?.args).toContain('--providers.kubernetesgateway=true');
    const crds = (await kc.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition()).items.filter(
      (c) => c.spec.group === 'gateway.networking.k8s.io',
    );
    expect(crds.map((c) => c.metadata!.annotations?.['gateway.networking.k8s.io/bundle-version'])).toEqual(
      crds.map(() => recipe.inputs.gatewayApi),
    );
    expect(crds.map((c) => c.spec.names.kind)).toEqual(
      expect.arrayContaining(['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant']),
    );
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    // The chart's GatewayClass, taken by Traefik.
    const classAccepted = async () =>
      (
        (await custom.getClusterCustomObject({
          group: 'gateway.networking.k8s.io',
          version: 'v1',
          plural: 'gatewayclasses',
          name: 'traefik',
        })) as { status?: { conditions?: { type: string; status: string }[] } }
      ).status?.conditions?.find((c) => c.type === 'Accepted')?.status;
    await expect.poll(classAccepted, { timeout: 90_000, interval: 1_000 }).toBe('True');
    const gw = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: NS };
    await custom.createNamespacedCustomObject({
      ...gw,
      plural: 'gateways',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'edge' },
        spec: { gatewayClassName: 'traefik', listeners: [{ name: 'http', port: 8000, protocol: 'HTTP' }] },
      },
    });
    await custom.createNamespacedCustomObject({
      ...gw,
      plural: 'httproutes',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'web' },
        spec: { parentRefs: [{ name: 'edge' }], hostnames: ['web.test'], rules: [{ backendRefs: [{ name: 'web', port: 8080 }] }] },
      },
    });
    // Traefik reports back on the objects: the Gateway programmed, the route accepted.
    const condition = async (plural: string, name: string, type: string) => {
      const o = (await custom.getNamespacedCustomObject({ ...gw, plural, name })) as {
        status?: { conditions?: { type: string; status: string }[]; parents?: { conditions?: { type: string; status: string }[] }[] };
      };
      return [...(o.status?.conditions ?? []), ...(o.status?.parents?.flatMap((p) => p.conditions ?? []) ?? [])].find(
        (c) => c.type === type,
      )?.status;
    };
    await expect.poll(() => condition('gateways', 'edge', 'Programmed'), { timeout: 90_000, interval: 1_000 }).toBe('True');
    await expect.poll(() => condition('httproutes', 'web', 'Accepted'), { timeout: 30_000, interval: 1_000 }).toBe('True');
    // Through Traefik's Service: the route's host reaches the web pod, another host does not.
    const through = async (host: string) => {
      const name = `gw-${++probeCount}`;
      // stdin stays open a moment: a client that half-closes first gets Traefik's 499 (client gone)
      const r = await runPod(name, [
        'sh',
        '-c',
        `(printf 'GET / HTTP/1.0\\r\\nHost: ${host}\\r\\n\\r\\n'; sleep 2) | nc -w 3 traefik.kube-system.svc.cluster.local 80`,
      ]);
      await deletePod(kc, NS, name);
      return r.logs;
    };
    await expect.poll(() => through('web.test'), { timeout: 30_000, interval: 1_000 }).toContain('hello-from-web');
    const other = await through('other.test');
    expect(other).toMatch(/^HTTP\/1\.[01] 404/);
    expect(other).not.toContain('hello-from-web');
  });

  it("honours k3s's registries.yaml: a docker.io mirror with a prefix rewrite, in containerd's hosts.toml and in the kubelet's pulls", async () => {
    expect(await nodeExec(['cat', REGISTRIES_YAML])).toContain('mirror.invalid:5000');
    // The rewrite as the mirror's path (override_path: containerd adds no /v2), the registry last.
    const hosts = await nodeExec(['cat', `${CERTS_D}/docker.io/hosts.toml`]);
    expect(hosts).toContain('server = "https://registry-1.docker.io"');
    expect(hosts).toContain(
      '[host."http://mirror.invalid:5000/v2/dockerhub"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n',
    );
    expect(await nodeExec(['cat', `${AGENT_DIR}/etc/containerd/config.toml`])).toContain(`config_path = "${CERTS_D}"`);
    const logs = (await docker('logs', node!.getId())).split('\n');
    expect(logs.filter((l) => l.includes('Registry docker.io:'))).toEqual([
      expect.stringContaining(
        'mirrors http://mirror.invalid:5000/v2/dockerhub (override_path), then default endpoint https://registry-1.docker.io',
      ),
    ]);

    // containerd's own reading of the file (ctr with the same hosts directory): it asks the mirror
    // first, under the prefix (its error is the first host's).
    const mirrored = 'http://mirror.invalid:5000/v2/dockerhub/library/x/manifests/1';
    const ctr = await node!.exec(['ctr', '-n', 'k8s.io', 'images', 'pull', '--hosts-dir', CERTS_D, 'docker.io/library/x:1']);
    expect(ctr.exitCode).not.toBe(0);
    expect(ctr.output).toContain(mirrored);

    // The kubelet's pull, through the CRI (config_path), asks the same URL.
    await core.createNamespace({ body: { metadata: { name: PULL_NS } } });
    await core.createNamespacedPod({
      namespace: PULL_NS,
      body: {
        metadata: { name: 'x', namespace: PULL_NS },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'main', image: 'docker.io/library/x:1', imagePullPolicy: 'Always' }],
        },
      },
    });
    const waiting = async () =>
      (await core.readNamespacedPod({ name: 'x', namespace: PULL_NS })).status?.containerStatuses?.[0]?.state?.waiting?.message ?? '';
    await expect.poll(waiting, { timeout: 120_000, interval: 1_000 }).toContain(mirrored);
    await core.deleteNamespace({ name: PULL_NS });
  });

  it('pulled nothing from a registry: every image came preloaded', async () => {
    const refs = (await nodeExec(['sh', '-c', 'ctr -n k8s.io images ls -q 2>/dev/null']))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    const named = refs.filter((r) => !r.startsWith('sha256:'));
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((r) => !r.startsWith('chatstack.local/'))).toEqual([]);
    // the registries.yaml probe's pull (which found no image) aside
    const events = (await core.listEventForAllNamespaces()).items.filter((e) => e.involvedObject.namespace !== PULL_NS);
    expect(events.filter((e) => e.reason === 'Pulling').map((e) => e.message)).toEqual([]);
    expect(events.some((e) => e.reason === 'Pulled' && /already present/.test(e.message ?? ''))).toBe(true);
  });

  it('tears down without leaving containers or volumes behind', async () => {
    const id = node!.getId();
    expect(volumes.length).toBeGreaterThan(0);
    await node!.stop();
    stopped = true;
    expect(await docker('ps', '-aq', '--filter', `label=${CLUSTER_LABEL}=${label}`)).toBe('');
    expect(await docker('ps', '-aq', '--filter', `id=${id}`)).toBe('');
    const left = (await docker('volume', 'ls', '-q')).split('\n').filter((v) => volumes.includes(v));
    expect(left).toEqual([]);
    if (hostCgroupDir) expect(existsSync(hostCgroupDir)).toBe(false); // pods' cgroups lived below the node's
  });
});
