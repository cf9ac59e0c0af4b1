// The node's image store (dev/lib/node-store.ts): a fresh node started from it holds the images
// without importing anything, runs a pod from one, and a changed image makes a new store.
// A small image stands in for the apps' (the same code path; the dev stack's store is proven by
// the smoke tier).
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from '../factory/build.ts';
import { docker, dockerTry } from '../../lib/docker.ts';
import { useLocalRyuk } from '../factory/testcontainers.ts';
import { STORE_LABEL, containerdName, loadImages, removeNodes, startCluster, type Cluster } from '../../dev/lib/cluster.ts';
import { ensureNodeStore, linkedLayers, storeKey, storeVolume } from '../../dev/lib/node-store.ts';
import { waitUntilPodFinished } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';

const REF = `chatstack.local/store-test:${process.pid}`;
const name = `store-test-${process.pid}`;
const log = (line: string) => console.log(`[store.test] ${line}`);
let nodeImage = '';
let cluster: Cluster | undefined;
const volumes = new Set<string>();

beforeAll(async () => {
  await useLocalRyuk({ log });
  nodeImage = (await ensureImage('k3s', { log })).ref;
  // Debian's userland, so a pod can print something of the image's own.
  await docker('tag', (await ensureImage('base-trixie', { log })).ref, REF);
}, 60 * 60_000);

afterAll(async () => {
  await removeNodes(name);
  for (const v of volumes) await dockerTry('volume', 'rm', '-f', v);
  await dockerTry('rmi', REF);
});

describe('image store', () => {
  let first = '';

  it('is built once for a set of images, then reused as it is', async () => {
    const built = await ensureNodeStore(nodeImage, [REF], log);
    volumes.add(built.volume);
    expect(built.built).toBe(true);
    const again = await ensureNodeStore(nodeImage, [REF], log);
    expect(again).toMatchObject({ volume: built.volume, built: false });
    expect((await docker('volume', 'inspect', '-f', `{{index .Labels "${STORE_LABEL}"}}`, built.volume)).length).toBe(16);
    first = built.volume;
  });

  it('starts a fresh node that holds the images, pinned, with nothing to import, and runs a pod from one', async () => {
    cluster = await startCluster({ image: nodeImage, name, store: first, log });
    const logs = await dockerTry('logs', cluster.id);
    expect(logs.stdout).toMatch(/linked the image store in \d+ ms/);
    // its layers are the store's, linked, not copied
    expect((await linkedLayers(cluster.id)).length).toBeGreaterThan(0);
    // positive control first: the same call imports an image the store lacks
    const other = await loadImages(cluster, [(await ensureImage('ryuk', { log })).ref], log);
    expect(other.imported).toHaveLength(1);
    const r = await loadImages(cluster, [REF], log);
    expect(r).toEqual({ imported: [], skipped: [REF] });
    const ls = await docker('exec', cluster.id, 'ctr', '-n', 'k8s.io', 'images', 'ls');
    expect(ls.split('\n').find((l) => l.startsWith(`${containerdName(REF)} `))).toContain('io.cri-containerd.pinned=pinned');

    const core = cluster.kc.makeApiClient(k8s.CoreV1Api);
    await waitUntil(
      'the default ServiceAccount',
      async () => ((await core.listNamespacedServiceAccount({ namespace: 'default' })).items.length > 0 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'from-store' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            { name: 'main', image: REF, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo "debian $(cat /etc/debian_version)"'] },
          ],
        },
      },
    });
    expect(await waitUntilPodFinished(cluster.kc, 'default', 'from-store', { timeoutMs: 90_000, intervalMs: 500 })).toBe('Succeeded');
    expect(String(await core.readNamespacedPodLog({ name: 'from-store', namespace: 'default' }))).toMatch(/^debian \d+/);
  });

  it("is keyed by each image's id: a changed image makes a new store and the superseded one goes", async () => {
    const before = await storeKey(nodeImage, [REF]);
    await docker('tag', (await ensureImage('base', { log })).ref, REF); // same name, another image
    const after = await storeKey(nodeImage, [REF]);
    expect(after.key).not.toBe(before.key);
    expect(after.set).toBe(before.set);
    // the running node still mounts the first store: it stays until that node is gone
    await removeNodes(name);
    cluster = undefined;
    const next = await ensureNodeStore(nodeImage, [REF], log);
    volumes.add(next.volume);
    expect(next).toMatchObject({ volume: storeVolume(after.key), built: true });
    expect((await dockerTry('volume', 'inspect', first)).code).not.toBe(0);
  });

  it('is built again when an earlier build was interrupted (no completion mark)', async () => {
    const { key } = await storeKey(nodeImage, [REF]);
    await docker('volume', 'rm', storeVolume(key));
    await docker('volume', 'create', storeVolume(key)); // what an interrupted build leaves
    const r = await ensureNodeStore(nodeImage, [REF], log);
    expect(r).toMatchObject({ volume: storeVolume(key), built: true });
  });
});
