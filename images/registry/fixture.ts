// A local OCI registry (images/registry: `crane registry serve`) for tests that pull images by
// their upstream names through a registry, e.g. upstream mode behind a registry mirror, on
// machines without internet. The same image is the client: crane runs from it on the registry's
// network. Plain HTTP throughout: Docker treats loopback registries as insecure, crane is told
// --insecure.
import { Wait, type StartedTestContainer } from 'testcontainers';
import { docker, dockerTry } from '../../lib/docker.ts';
import { ensureImage } from '../factory/build.ts';
import { lockedDownContainer, useLocalRyuk } from '../factory/testcontainers.ts';

export const REGISTRY_PORT = 5000;

export interface StartedRegistry {
  container: StartedTestContainer;
  /** the registry image, which is also the crane client */
  image: string;
  /** the Docker network the registry is on (and crane runs on) */
  network: string;
  /** 127.0.0.1:<mapped port>, for the host's Docker CLI */
  hostAddress: string;
  /** <container IP>:5000, for containers on `network` */
  networkAddress: string;
}

/** An OCI index (or Docker manifest list) as `crane manifest` prints it. */
export interface ImageIndex {
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; platform?: { os: string; architecture: string; variant?: string } }[];
}

/** Starts the registry locked down as a pod would run it, its blobs on a tmpfs; ready when `GET /v2/` answers 200. */
export async function startRegistry(opts: { network?: string; image?: string } = {}): Promise<StartedRegistry> {
  const image = opts.image ?? (await ensureImage('registry')).ref;
  await useLocalRyuk();
  const network = opts.network ?? 'bridge';
  const container = await lockedDownContainer(image)
    .withNetworkMode(network)
    // A Docker tmpfs is root's otherwise; the server runs as 65534.
    .withTmpFs({ '/var/lib/registry': 'rw,nosuid,nodev,uid=65534,gid=65534' })
    .withExposedPorts(REGISTRY_PORT)
    .withWaitStrategy(Wait.forHttp('/v2/', REGISTRY_PORT).forStatusCode(200))
    .withStartupTimeout(30_000)
    .start();
  return {
    container,
    image,
    network,
    hostAddress: `127.0.0.1:${container.getMappedPort(REGISTRY_PORT)}`,
    networkAddress: `${container.getIpAddress(network)}:${REGISTRY_PORT}`,
  };
}

/** Runs crane from the registry image on the registry's network, locked down like the server; its stdout. */
export async function crane(registry: StartedRegistry, ...args: string[]): Promise<string> {
  return docker(
    'run',
    '--rm',
    '--network',
    registry.network,
    '--read-only',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--entrypoint',
    '/crane',
    registry.image,
    '--insecure',
    ...args,
  );
}

/** `docker push`es a local image from the host as `repoTag` (e.g. `library/pause:3.10`); the manifest digest push printed. */
export async function dockerPush(registry: StartedRegistry, localRef: string, repoTag: string): Promise<string> {
  const target = `${registry.hostAddress}/${repoTag}`;
  await docker('tag', localRef, target);
  try {
    const out = await docker('push', target);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    if (!digest) throw new Error(`docker push ${target} printed no digest:\n${out}`);
    return digest;
  } finally {
    // Only the extra tag goes; the local image stays.
    await dockerTry('rmi', target);
  }
}

/**
 * Turns `repoTag` (repo:tag, an image already in the registry) into a multi-platform index, as
 * upstream publishes images: the image itself (crane reads its platform from its config) and a copy
 * whose config says `otherPlatform` (same layers: it is listed, not run). Returns the index's
 * digest and manifest.
 */
export async function pushMultiPlatform(
  registry: StartedRegistry,
  repoTag: string,
  otherPlatform = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64',
): Promise<{ digest: string; index: ImageIndex }> {
  const ref = `${registry.networkAddress}/${repoTag}`;
  const repo = ref.slice(0, ref.lastIndexOf(':'));
  // --repo pushes the copy by digest, untagged; it prints <repo>@<digest>.
  const other = (await crane(registry, 'mutate', '--set-platform', otherPlatform, '--repo', repo, ref)).trim();
  // Both -m manifests are read before -t moves the tag to the index.
  const pushed = (await crane(registry, 'index', 'append', '-t', ref, '-m', ref, '-m', other)).trim();
  const index = JSON.parse(await crane(registry, 'manifest', ref)) as ImageIndex;
  return { digest: pushed.slice(pushed.lastIndexOf('@') + 1), index };
}
