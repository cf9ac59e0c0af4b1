// The deployed dev stack, checked the way an operator would: rollouts, health endpoints, the
// probes the kubelet really runs, and the security posture at run time.
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { execIn, isPodReady, podOf } from '../../lib/kube/pod.ts';
import { apiMessage } from '../../lib/kube/config.ts';
import { expectLiveEqualsRender } from '../support/live-objects.ts';
import { recipeImageRef } from '../../images/factory/recipes.ts';
import { docker, dockerTry } from '../../lib/docker.ts';
import { OWN_RECIPES, upstreamRefs } from '../../dev/lib/image-mode.ts';
import { PUBLIC_BASE_LABEL } from '../../images/factory/public-base.ts';
import { STORE_LABEL, containerdName } from '../../dev/lib/cluster.ts';
import { linkedLayers, storeKey, storeVolume } from '../../dev/lib/node-store.ts';

const apps = kc.makeApiClient(k8s.AppsV1Api);
const core = kc.makeApiClient(k8s.CoreV1Api);
const ns = stack.namespace;

/** The local URL that forwards to an app's Service. */
const URLS: Record<string, string | undefined> = {
  'open-webui': stack.urls.openWebui,
  litellm: stack.urls.litellm,
  'fake-anthropic': stack.urls.fakeAnthropic,
};

describe('the dev stack', { timeout: 60_000 }, () => {
  it('rolled out every Deployment, with every pod Ready and never restarted', async () => {
    const deployments = (await apps.listNamespacedDeployment({ namespace: ns })).items;
    expect(deployments.map((d) => d.metadata!.name).sort()).toEqual(['fake-anthropic', 'litellm', 'open-webui']);
    for (const d of deployments) expect(d.status?.availableReplicas, d.metadata!.name).toBe(d.spec?.replicas);
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    for (const p of pods) {
      expect(isPodReady(p), p.metadata!.name).toBe(true);
      for (const c of p.status?.containerStatuses ?? []) expect(c.restartCount, `${p.metadata!.name}/${c.name} restarts`).toBe(0);
    }
  });
});

describe('what was applied', { timeout: 60_000 }, () => {
  it('is what the overlay renders, field for field (nothing lost on the way to the API server)', async () => {
    expect(await expectLiveEqualsRender(kc, stack.dir, ['NetworkPolicy', 'Service', 'Deployment'])).toBeGreaterThan(8);
  });
});

describe('health endpoints', { timeout: 30_000 }, () => {
  it('LiteLLM answers liveliness and readiness without a key', async () => {
    const live = await fetch(`${stack.urls.litellm}/health/liveliness`);
    expect(live.status).toBe(200);
    expect(await live.text()).toContain("I'm alive");
    const ready = await fetch(`${stack.urls.litellm}/health/readiness`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'healthy' });
  });

  it('LiteLLM refuses /health without the master key (which is why it is no probe)', async () => {
    const res = await fetch(`${stack.urls.litellm}/health`);
    expect(res.status).toBe(401);
  });

  it('Open WebUI reports itself and its database healthy', async () => {
    const health = await fetch(`${stack.urls.openWebui}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: true });
    const db = await fetch(`${stack.urls.openWebui}/health/db`);
    expect(db.status).toBe(200);
    expect(await db.json()).toEqual({ status: true });
    // Readiness: startup finished, the database (and Redis, where configured) answer.
    const ready = await fetch(`${stack.urls.openWebui}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: true });
  });
});

describe('the probes the kubelet runs', { timeout: 30_000 }, () => {
  it("are the manifests' probes, and answer 200 through the port-forward", async () => {
    const deployments = (await apps.listNamespacedDeployment({ namespace: ns })).items;
    let checked = 0;
    for (const d of deployments) {
      const name = d.metadata!.name!;
      const base = URLS[name];
      expect(base, `a forward for ${name}`).toBeDefined();
      for (const c of d.spec!.template.spec!.containers) {
        const probes = (['startupProbe', 'livenessProbe', 'readinessProbe'] as const).map((p) => c[p]);
        for (const probe of probes) {
          // Every probe targets the container port the Service forwards to (named "http"):
          // an HTTP probe answers 200 through the forward, a TCP probe accepts a connection.
          const target = probe?.httpGet ?? probe?.tcpSocket;
          expect(target, `${name}: every probe is an httpGet or a tcpSocket`).toBeDefined();
          expect(target!.port).toBe('http');
          const path = probe!.httpGet?.path;
          const res = await fetch(`${base}${path ?? '/'}`);
          if (path) expect(res.status, `${name} ${path}`).toBe(200);
          checked++;
        }
      }
    }
    expect(checked).toBe(9);
  });
});

describe('security posture at run time', { timeout: 60_000 }, () => {
  const CASES = [
    { app: 'litellm', uid: 65534, writable: '/tmp' },
    { app: 'open-webui', uid: 10000, writable: '/tmp' },
    { app: 'fake-anthropic', uid: 10001 },
  ];

  it.each(CASES)('$app runs as UID $uid, as its manifest says', async ({ app, uid }) => {
    const d = await apps.readNamespacedDeployment({ name: app, namespace: ns });
    expect(d.spec!.template.spec!.securityContext!.runAsUser).toBe(uid);
    const pod = await podOf(kc, ns, app);
    const r = await execIn(kc, ns, pod.metadata!.name!, app, ['id']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^uid=${uid}\\b.*gid=${uid}\\b`));
  });

  it.each(CASES)('$app cannot write to its root filesystem', async ({ app, writable }) => {
    const pod = (await podOf(kc, ns, app)).metadata!.name!;
    if (writable) {
      // Positive control: the same write succeeds on the emptyDir the manifest mounts.
      const ok = await execIn(kc, ns, pod, app, ['sh', '-c', `echo x > ${writable}/.probe && rm ${writable}/.probe`]);
      expect(ok.code, ok.stderr).toBe(0);
    }
    const denied = await execIn(kc, ns, pod, app, ['sh', '-c', 'echo x > /probe-root-write']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Read-only file system/);
  });

  it('the namespace rejects a privileged root pod, naming the "restricted" policy', async () => {
    const image = await recipeImageRef('fake-anthropic');
    const pod = (privileged: boolean): k8s.V1Pod => ({
      metadata: { name: privileged ? 'psa-privileged' : 'psa-compliant' },
      spec: {
        securityContext: privileged ? undefined : { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'c',
            image,
            securityContext: privileged
              ? { privileged: true, runAsUser: 0 }
              : { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
    // Positive control: a compliant pod passes admission (dry run: nothing is created).
    await core.createNamespacedPod({ namespace: ns, body: pod(false), dryRun: 'All' });
    const err = await core.createNamespacedPod({ namespace: ns, body: pod(true), dryRun: 'All' }).then(
      () => undefined,
      (e: unknown) => apiMessage(e),
    );
    expect(err).toMatch(/violates PodSecurity "restricted:latest"/);
    expect(err).toMatch(/privileged/);
    expect(err).toMatch(/runAsNonRoot|runAsUser=0/);
  });
});

describe("the images of the stack's mode", { timeout: 30_000 }, () => {
  it('hermetic: every pod runs a local build; upstream: the pinned upstream references, and only public-base builds of our own', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    const running = [...new Set(pods.flatMap((p) => p.spec!.containers.map((c) => c.image!)))].sort();
    const own = await Promise.all(OWN_RECIPES.map((r) => recipeImageRef(r)));
    if (stack.images.mode === 'hermetic') {
      for (const ref of running) expect(ref).toMatch(/^chatstack\.local\//);
      return;
    }
    const allowed = new Set([...upstreamRefs(), ...own]);
    expect(running.filter((r) => !allowed.has(r))).toEqual([]);
    // Nothing compiled or debootstrapped: what up() built, it built on public base images, as the images' labels say.
    for (const b of stack.built) expect(b.publicBases?.length, `${b.name} built on public bases`).toBeGreaterThan(0);
    for (const ref of running.filter((r) => own.includes(r))) {
      const labels = JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', ref)) as Record<string, string>;
      expect(labels[PUBLIC_BASE_LABEL], `${ref} built on a public base`).toMatch(/^[a-z0-9./-]+:[\w.-]+/);
    }
  });
});

describe('the images the harness side-loaded into the node', { timeout: 30_000 }, () => {
  it("are pinned in its containerd, so the kubelet's image garbage collection never removes one (they cannot be pulled again)", async () => {
    if (!stack.clusterId) throw new Error('the smoke tier runs on a node the harness started');
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    const running = [...new Set(pods.flatMap((p) => p.spec!.containers.map((c) => c.image!)))];
    expect(running.length).toBeGreaterThan(0);
    const ls = await dockerTry('exec', stack.clusterId, 'ctr', '-n', 'k8s.io', 'images', 'ls');
    expect(ls.code, ls.stderr).toBe(0);
    for (const ref of running) {
      const line = ls.stdout.split('\n').find((l) => l.startsWith(`${containerdName(ref)} `));
      expect(line, `${ref} in the node's containerd`).toBeDefined();
      expect(line, ref).toContain('io.cri-containerd.pinned=pinned');
    }
  });

  it('hermetic: came with the node, from the image store of exactly these images, its layers linked; upstream (rancher/k3s has no store): imported, no store', async () => {
    if (!stack.clusterId) throw new Error('the smoke tier runs on a node the harness started');
    const inspect = JSON.parse((await dockerTry('inspect', stack.clusterId)).stdout)[0] as {
      Config: { Image: string; Labels: Record<string, string> };
    };
    const logs = (await dockerTry('logs', stack.clusterId)).stdout;
    if (stack.images.mode === 'upstream') {
      // The images reached containerd by import (pinned: the test above), not from a store.
      expect(inspect.Config.Labels[STORE_LABEL]).toBeUndefined();
      expect(logs).not.toMatch(/linked the image store/);
      return;
    }
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    const running = [...new Set(pods.flatMap((p) => p.spec!.containers.map((c) => c.image!)))];
    const { key } = await storeKey(inspect.Config.Image, running);
    expect(inspect.Config.Labels[STORE_LABEL]).toBe(storeVolume(key));
    expect(logs).toMatch(/linked the image store in \d+ ms/);
    expect((await linkedLayers(stack.clusterId)).length).toBeGreaterThan(3);
  });

  it('are named as containerd names Docker references', () => {
    expect(containerdName('chatstack.local/open-webui:v0.12.4')).toBe('chatstack.local/open-webui:v0.12.4');
    expect(containerdName('ghcr.io/berriai/litellm-non_root:v1.108.14')).toBe('ghcr.io/berriai/litellm-non_root:v1.108.14');
    expect(containerdName('redis:8.0.4')).toBe('docker.io/library/redis:8.0.4');
    expect(containerdName('pgvector/pgvector:0.8.1-pg17-trixie')).toBe('docker.io/pgvector/pgvector:0.8.1-pg17-trixie');
    expect(containerdName('localhost:5000/x:1')).toBe('localhost:5000/x:1');
  });
});
