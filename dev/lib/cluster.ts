// The throwaway cluster: a k3s node in a container, started with @testcontainers/k3s as
// users would, and fed the stack's images straight from the local Docker (never a registry).
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient } from 'testcontainers';
import { statfsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { dockerTry, enginePlatform, imageInfo, removeContainers, saveInto } from '../../lib/docker.ts';
import { secondsSince } from '../../lib/time.ts';
import { kubeConfigFrom } from '../../lib/kube/config.ts';
import { configuredMirrors, NODE_HOST_ALIAS, registriesYaml, usesHostAlias, type Mirror } from '../../lib/registry-mirror.ts';

/** Label on the node container, so `dev:down` finds it whoever started it. */
export const CLUSTER_LABEL = 'chat-stack.dev/cluster';
const CGROUP2_SUPER_MAGIC = 0x63677270;
/** The node's agent directory: containerd's store and the import markers below live here. */
export const AGENT_DIR = '/var/lib/rancher/k3s/agent';
/** Where a marker per imported image records the Docker image id it was imported from. */
const IMPORTED_DIR = `${AGENT_DIR}/chatstack-imported`;
/** Label on an image store volume (dev/lib/node-store.ts), and on a node started from one: its name. */
export const STORE_LABEL = 'chat-stack.dev/node-store';
/** Written last into an image store: one without it was interrupted and is not used. */
export const STORE_COMPLETE = '.chatstack-store-complete';
/** Where a node mounts its image store, read-only, for as long as it runs (its layers stay there). */
export const STORE_MOUNT = '/chatstack-store';
/**
 * The node's entrypoint with a store: a script of the node image (images/k3s/chatstack-store-entrypoint)
 * that links the store's unpacked layers in on the container's first start, then runs k3s. It
 * reads the store at $CHATSTACK_STORE and expects STORE_COMPLETE there.
 */
const STORE_ENTRYPOINT = ['/usr/bin/tini', '--', '/usr/bin/chatstack-store-entrypoint'];

export interface ClusterOptions {
  image: string;
  /** Reuse a running node with the same configuration (dev:up) instead of always a fresh one (tests). */
  reuse?: boolean;
  /** Leave the node running when this process ends (no Testcontainers reaper): CHATSTACK_KEEP_STACK=1. */
  keep?: boolean;
  /** A name for the reusable node; distinct names give distinct clusters. */
  name?: string;
  /** An image store volume (dev/lib/node-store.ts) the node starts from (hermetic node image only). */
  store?: string;
  /** Registry mirrors the node pulls through (its registries.yaml); default: CHATSTACK_REGISTRY_MIRROR's. */
  mirrors?: Mirror[];
  log?: (line: string) => void;
}

export interface Cluster {
  container: StartedK3sContainer;
  id: string;
  kubeConfigYaml: string;
  kc: KubeConfig;
  /** seconds from start() to the node's "ready" log line (0 when an existing node was reused) */
  bootSeconds: number;
}

/**
 * k3s server flags: nothing it would fetch, the cgroup v1 escape hatch only where needed, and
 * the address the API is reached at in the serving certificate. Traefik stays, as k3s ships it:
 * it is the Gateway the local-cluster overlay is tested through. servicelb goes: it would publish
 * Traefik on the host's ports 80 and 443; tests port-forward instead.
 */
export function serverCommand(cgroupV1: boolean, apiHost: string): string[] {
  return [
    'server',
    '--disable=servicelb',
    // Kubernetes 1.35 refuses cgroup v1 hosts unless told otherwise; v2 hosts need nothing.
    ...(cgroupV1 ? ['--kubelet-arg=fail-cgroupv1=false'] : []),
    // Testcontainers reaches the node at the bridge gateway when it runs inside a container
    // (/.dockerenv): that address must be in the certificate (k3s proper adds it on the fly).
    ...(['localhost', '127.0.0.1'].includes(apiHost) ? [] : [`--tls-san=${apiHost}`]),
  ];
}

/**
 * What k3s users write before the first boot to turn on Traefik's Gateway API provider, which
 * k3s's chart leaves off (k3s-io/k3s#13977): the local-cluster overlay's Gateway needs it. Both
 * rancher/k3s (helm-controller) and the hermetic node read it from the manifests directory.
 */
export const TRAEFIK_GATEWAY_CONFIG = {
  target: '/var/lib/rancher/k3s/server/manifests/traefik-config.yaml',
  content: `# Written by the chat-stack harness: Traefik's Gateway API provider on (k3s ships it off).
apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: traefik
  namespace: kube-system
spec:
  valuesContent: |-
    providers:
      kubernetesGateway:
        enabled: true
`,
};

/** k3s reads its registry mirrors here at start (docs.k3s.io/installation/private-registry). */
export const REGISTRIES_YAML = '/etc/rancher/k3s/registries.yaml';

/** The files a node gets before its first start: the Traefik config, and registries.yaml when mirrors are set. */
export function nodeFiles(mirrors: Mirror[]): { target: string; content: string }[] {
  return [TRAEFIK_GATEWAY_CONFIG, ...(mirrors.length > 0 ? [{ target: REGISTRIES_YAML, content: registriesYaml(mirrors) }] : [])];
}

export function hostUsesCgroupV1(): boolean {
  try {
    return statfsSync('/sys/fs/cgroup').type !== CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const v1 = hostUsesCgroupV1();
  log(`cgroup ${v1 ? 'v1 host: passing --kubelet-arg=fail-cgroupv1=false' : 'v2 host'}`);
  const apiHost = (await getContainerRuntimeClient()).info.containerRuntime.host;
  const mirrors = opts.mirrors ?? configuredMirrors();
  for (const m of mirrors)
    log(`registry mirror: ${m.registry} -> ${m.insecure ? 'http://' : ''}${m.host}${m.prefix ? `/${m.prefix}` : ''}`);
  let container = new K3sContainer(opts.image)
    .withCommand(serverCommand(v1, apiHost))
    .withCopyContentToContainer(nodeFiles(mirrors))
    .withLabels({ [CLUSTER_LABEL]: opts.name ?? 'test', ...(opts.store ? { [STORE_LABEL]: opts.store } : {}) })
    .withStartupTimeout(240_000);
  if (opts.store) {
    container = container
      .withBindMounts([
        { source: '/sys/fs/cgroup', target: '/sys/fs/cgroup' }, // K3sContainer's own, which this list replaces
        { source: opts.store, target: STORE_MOUNT, mode: 'ro' },
      ])
      .withEnvironment({ CHATSTACK_STORE: STORE_MOUNT })
      .withEntrypoint(STORE_ENTRYPOINT);
  }
  // A mirror on the host's loopback is reached from the node as host.docker.internal.
  if (usesHostAlias(mirrors)) container = container.withExtraHosts([{ host: NODE_HOST_ALIAS, ipAddress: 'host-gateway' }]);
  if (opts.reuse) container = container.withReuse();
  if (opts.keep) container = container.withAutoCleanup(false);
  const t0 = Date.now();
  log(`starting ${opts.image}${opts.reuse ? ` (reusing a running node named ${opts.name ?? 'test'} if there is one)` : ''}`);
  const started = await container.start();
  const bootSeconds = secondsSince(t0);
  const kubeConfigYaml = started.getKubeConfig();
  const linked = opts.store ? /linked the image store in (\d+) ms/.exec((await dockerTry('logs', started.getId())).stdout) : null;
  log(
    `node ${started.getId().slice(0, 12)} ready after ${bootSeconds.toFixed(1)} s${linked ? ` (${(Number(linked[1]) / 1000).toFixed(1)} s of it linking the image store ${opts.store})` : ''}`,
  );
  return { container: started, id: started.getId(), kubeConfigYaml, kc: kubeConfigFrom(kubeConfigYaml), bootSeconds };
}

/** Removes the node containers named `name` (see ClusterOptions.name) with their volumes; returns their ids. */
export async function removeNodes(name: string): Promise<string[]> {
  return removeContainers(`${CLUSTER_LABEL}=${name}`);
}

/** containerd's name for a Docker reference (`redis:8` -> `docker.io/library/redis:8`). */
export function containerdName(ref: string): string {
  const first = ref.split('/')[0]!;
  const hasDomain = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return ref;
  return `docker.io/${ref.includes('/') ? ref : `library/${ref}`}`;
}

/**
 * Makes the node's containerd hold `refs`, importing only those whose local Docker image id
 * differs from what was imported before and that containerd still lists (a reused node skips
 * unchanged images). Each is pinned: side-loaded images cannot be pulled again, so the kubelet's
 * image garbage collection (at 85 % disk use) must never remove one that no pod happens to run
 * at that moment (kind disables that collection for the same reason). `node` is the node
 * container (a test holding only the stack's info passes `{ id: info.clusterId }`).
 */
export async function loadImages(
  node: Pick<Cluster, 'id'>,
  refs: string[],
  log: (line: string) => void = () => {},
): Promise<{ imported: string[]; skipped: string[] }> {
  const imported: string[] = [];
  const skipped: string[] = [];
  const ctr = ['ctr', '-n', 'k8s.io', 'images'];
  // Only the unpacked snapshots are kept, not the layer tarballs too (half the disk: nothing pulls
  // or exports them here), and the client-side import (--local) is faster than the transfer
  // service: 54 s instead of 66-79 s for the dev stack's three images.
  // One platform, the engine's (what docker save sends): --all-platforms would ask for layers a
  // multi-platform image's other platforms never had here.
  const importArgs = ['import', '--platform', (await enginePlatform()).platform, '--local', '--discard-unpacked-layers', '-'];
  const listed = await dockerTry('exec', node.id, ...ctr, 'ls', '-q');
  const present = new Set(listed.code === 0 ? listed.stdout.split('\n') : []);
  // Concurrently: each import is mostly waiting on I/O (docker save, containerd unpacking).
  await Promise.all(
    refs.map(async (ref) => {
      const id = (await imageInfo(ref))?.id;
      if (!id) throw new Error(`Image ${ref} is not in the local Docker; build it (npm run images:build) or pull it first.`);
      const marker = `${IMPORTED_DIR}/${ref.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const current = await dockerTry('exec', node.id, 'cat', marker);
      if (current.code === 0 && current.stdout === id && present.has(containerdName(ref))) {
        skipped.push(ref);
        return;
      }
      const t0 = Date.now();
      await saveInto(ref, node.id, [...ctr, ...importArgs]);
      const pin = await dockerTry('exec', node.id, ...ctr, 'label', containerdName(ref), 'io.cri-containerd.pinned=pinned');
      if (pin.code !== 0) throw new Error(`could not pin ${ref} in the node's containerd: ${pin.stderr || pin.stdout}`);
      const write = await dockerTry('exec', node.id, 'sh', '-c', `mkdir -p ${IMPORTED_DIR} && printf %s "$1" > "$2"`, 'sh', id, marker);
      if (write.code !== 0) throw new Error(`could not record the import of ${ref}: ${write.stderr || write.stdout}`);
      log(`loaded ${ref} into the node (${secondsSince(t0)} s)`);
      imported.push(ref);
    }),
  );
  return { imported, skipped };
}
