// Upstream mode behind a registry mirror, run by `npm run test:mirror` (tests/mirror-run.ts),
// which fills a local registry with the stack's images under their upstream names and sets
// CHATSTACK_IMAGES=upstream and CHATSTACK_REGISTRY_MIRROR. The smoke project runs beside this one
// on the same stack; this one shows the two pullers went through the mirror: the harness (the
// node image, the apps, the fake's public base) and the node itself (its registries.yaml).
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { MIRROR_PROBE } from '../support/mirror.ts';
import { docker, dockerTry } from '../../lib/docker.ts';
import { configuredMirrors, mirroredRef, registriesYaml } from '../../lib/registry-mirror.ts';
import { REGISTRIES_YAML, containerdName } from '../../dev/lib/cluster.ts';
import { OWN_RECIPES, UPSTREAM_K3S } from '../../dev/lib/image-mode.ts';
import { loadRecipes, recipeImageRef } from '../../images/factory/recipes.ts';
import { waitUntilPodReady } from '../../lib/kube/pod.ts';
import { PUBLIC_BASE_LABEL } from '../../images/factory/public-base.ts';
import { deleteNamespace, ensureNamespace } from '../../lib/kube/namespace.ts';

const mirrors = configuredMirrors();
const core = kc.makeApiClient(k8s.CoreV1Api);
const PROBE_NS = 'mirror-probe';
const node = () => {
  if (!stack.clusterId) throw new Error('the mirror project runs on a node the harness started');
  return stack.clusterId;
};

afterAll(async () => {
  await deleteNamespace(kc, PROBE_NS);
});

describe('upstream mode behind a registry mirror', { timeout: 60_000 }, () => {
  it('is what this run is (npm run test:mirror forces upstream mode and sets the mirror)', () => {
    expect(stack.images.mode).toBe('upstream');
    expect(mirrors.map((m) => m.registry)).toEqual(expect.arrayContaining(['docker.io', 'ghcr.io', '*']));
  });

  it('runs without root: a user whose only privilege is the docker group', () => {
    expect(process.getuid?.()).not.toBe(0);
    const groups = execFileSync('id', ['-nG'], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(groups).toContain('docker');
    expect(groups.filter((g) => ['root', 'sudo', 'wheel', 'adm'].includes(g))).toEqual([]);
  });

  it('pulled the node image and every upstream image the pods run from the mirror, under the mirror names, then named them as upstream', async () => {
    const pods = (await core.listNamespacedPod({ namespace: stack.namespace })).items;
    const own = await Promise.all(OWN_RECIPES.map((r) => recipeImageRef(r)));
    const upstream = [...new Set(pods.flatMap((p) => p.spec!.containers.map((c) => c.image!)))].filter((r) => !own.includes(r));
    expect(upstream.length).toBeGreaterThanOrEqual(2);
    for (const ref of [UPSTREAM_K3S, ...upstream]) {
      const via = mirroredRef(ref, mirrors);
      expect(via, ref).not.toBe(ref);
      // Both names on one image: pulled as the mirror's, tagged as upstream's.
      expect(await docker('image', 'inspect', '--format', '{{.Id}}', via), ref).toBe(
        await docker('image', 'inspect', '--format', '{{.Id}}', ref),
      );
    }
  });

  it('built the fake upstream on the official Node image, itself pulled from the mirror', async () => {
    const recipes = await loadRecipes();
    const base = String(recipes.get('node')!.inputs['upstream']);
    expect(await docker('image', 'inspect', '--format', '{{.Id}}', mirroredRef(base, mirrors))).toBe(
      await docker('image', 'inspect', '--format', '{{.Id}}', base),
    );
    // The image's own record of its base (set by the public-base build, whether this run built it or not).
    const fake = await recipeImageRef('fake-anthropic');
    expect(await docker('image', 'inspect', '--format', `{{index .Config.Labels "${PUBLIC_BASE_LABEL}"}}`, fake)).toBe(base);
  });

  it("gave the node k3s's registries.yaml made from the same setting", async () => {
    expect(await docker('exec', node(), 'cat', REGISTRIES_YAML)).toBe(registriesYaml(mirrors).trimEnd());
  });

  it('lets the node pull what it was never given through its registries.yaml: a multi-platform index, its own platform run', async () => {
    expect(MIRROR_PROBE).toBe(String((await loadRecipes()).get('pause')!.inputs['upstream']));
    const name = containerdName(MIRROR_PROBE);
    const listed = async () => (await docker('exec', node(), 'ctr', '-n', 'k8s.io', 'images', 'ls')).split('\n');
    // Control: the node does not hold it, and the mirror serves it as an index of several platforms.
    expect((await listed()).some((l) => l.startsWith(`${name} `))).toBe(false);
    const via = mirroredRef(MIRROR_PROBE, mirrors);
    const slash = via.indexOf('/');
    const colon = via.lastIndexOf(':');
    const res = await fetch(`http://${via.slice(0, slash)}/v2/${via.slice(slash + 1, colon)}/manifests/${via.slice(colon + 1)}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' },
    });
    const index = (await res.json()) as { manifests?: { platform?: { architecture: string } }[] };
    expect(new Set(index.manifests?.map((m) => m.platform?.architecture)).size).toBeGreaterThanOrEqual(2);

    await ensureNamespace(kc, PROBE_NS);
    await core.createNamespacedPod({
      namespace: PROBE_NS,
      body: {
        metadata: { name: 'pulled-through-mirror' },
        spec: {
          terminationGracePeriodSeconds: 0,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65535, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'pause',
              image: MIRROR_PROBE,
              imagePullPolicy: 'Always',
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    });
    const pod = await waitUntilPodReady(kc, PROBE_NS, 'pulled-through-mirror', { timeoutMs: 45_000 });
    expect(pod.status?.containerStatuses?.[0]?.imageID).toMatch(/sha256:[0-9a-f]{64}$/);
    const line = (await listed()).find((l) => l.startsWith(`${name} `));
    expect(line, `${name} in the node's containerd`).toBeDefined();
    expect(line).toMatch(/linux\/amd64.*linux\/arm64|linux\/arm64.*linux\/amd64/);
    // Where it came from: containerd asked the mirror (the * entry), not registry.k8s.io.
    const hosts = await dockerTry('exec', node(), 'sh', '-c', 'cat /var/lib/rancher/k3s/agent/etc/containerd/certs.d/_default/hosts.toml');
    expect(hosts.stdout).toContain('host.docker.internal');
  });
});
