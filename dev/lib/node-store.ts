// The node's image store, kept between nodes (kind's preloaded node image, as a Docker volume):
// a containerd store that already holds a set of images, unpacked and pinned. A fresh k3s node
// mounts it read-only and starts from it: its databases copied, its layers linked (under 0.1 s;
// see STORE_ENTRYPOINT in cluster.ts), instead of importing the images through
// `docker save | ctr import` after it booted (~55-80 s for the dev stack's 2.4 GB).
// One store per set of images, keyed by the node image's and every image's local id, so a rebuilt
// image makes a new store and the old one of the same set is removed. Hermetic node image only:
// it runs containerd on its own and has a shell to link with (rancher/k3s has neither).
import { createHash } from 'node:crypto';
import { docker, dockerTry, imageInfo } from '../../lib/docker.ts';
import { secondsSince } from '../../lib/time.ts';
import { AGENT_DIR, CLUSTER_LABEL, STORE_COMPLETE, STORE_LABEL, STORE_MOUNT, loadImages } from './cluster.ts';

/** Label on each store volume: which set of images it holds (the key without the image ids). */
const SET_LABEL = 'chat-stack.dev/node-store-set';
const SOCKET_DIR = '/run/k3s/containerd';
/** Label on a store's builder container: the pid of the process driving it (same host). */
const BUILDER_PID_LABEL = 'chat-stack.dev/node-store-builder-pid';

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface NodeStore {
  volume: string;
  /** true when this call built it (false: an earlier run's store was reused) */
  built: boolean;
  seconds: number;
}

export function storeDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['0', 'off', 'false', 'no'].includes((env['CHATSTACK_NODE_STORE'] ?? '').toLowerCase());
}

const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

/** The store's key: the node image's id and each image's id (order does not matter). */
export async function storeKey(nodeImage: string, refs: string[]): Promise<{ key: string; set: string }> {
  const id = async (ref: string) => {
    const info = await imageInfo(ref);
    if (!info) throw new Error(`Image ${ref} is not in the local Docker; build it (npm run images:build) or pull it first.`);
    return info.id;
  };
  const sorted = [...new Set(refs)].sort();
  const ids = await Promise.all([nodeImage, ...sorted].map(id));
  return { key: sha({ node: ids[0], images: sorted.map((r, i) => [r, ids[i + 1]]) }), set: sha({ images: sorted }) };
}

export const storeVolume = (key: string) => `chatstack-node-store-${key}`;

async function isComplete(volume: string, nodeImage: string): Promise<boolean> {
  if ((await dockerTry('volume', 'inspect', volume)).code !== 0) return false;
  const r = await dockerTry(
    'run',
    '--rm',
    '--network',
    'none',
    '-v',
    `${volume}:${STORE_MOUNT}:ro`,
    '--entrypoint',
    'test',
    nodeImage,
    '-f',
    `${STORE_MOUNT}/${STORE_COMPLETE}`,
  );
  return r.code === 0;
}

/**
 * A complete store holding `refs` for nodes of `nodeImage`: an earlier run's, or built now by a
 * containerd of the node image itself (same binary, same snapshotter, same paths as the node's),
 * which imports, unpacks and pins each image as loadImages does on a running node.
 */
export async function ensureNodeStore(nodeImage: string, refs: string[], log: (line: string) => void = () => {}): Promise<NodeStore> {
  const t0 = Date.now();
  const { key, set } = await storeKey(nodeImage, refs);
  const volume = storeVolume(key);
  const builder = `${volume}-builder`;
  // Another live process building the same store (dev:up beside npm test): wait for it, up to
  // 5 min. A builder whose process died (interrupted) is removed below and the store built again.
  for (let i = 0; i < 150; i++) {
    const r = await dockerTry('inspect', '-f', `{{.State.Running}} {{index .Config.Labels "${BUILDER_PID_LABEL}"}}`, builder);
    const [running, pid] = r.stdout.split(' ');
    if (r.code !== 0 || running !== 'true' || !isAlive(Number(pid))) break;
    if (i === 0) log(`image store ${volume}: process ${pid} is building it; waiting`);
    await new Promise((res) => setTimeout(res, 2000));
  }
  if (await isComplete(volume, nodeImage)) {
    await removeSuperseded(volume, set, log);
    return { volume, built: false, seconds: secondsSince(t0) };
  }

  log(`image store ${volume}: importing ${refs.length} image(s) once; later nodes start from it`);
  await dockerTry('rm', '-f', '-v', builder);
  await dockerTry('volume', 'rm', '-f', volume); // an interrupted build's leftovers
  await docker('volume', 'create', '--label', `${STORE_LABEL}=${key}`, '--label', `${SET_LABEL}=${set}`, volume);
  const id = await docker(
    'run',
    '-d',
    '--name',
    builder,
    '--privileged',
    '--network',
    'none',
    '--label',
    `${STORE_LABEL}-builder=${key}`,
    '--label',
    `${BUILDER_PID_LABEL}=${process.pid}`,
    '-v',
    `${volume}:${AGENT_DIR}`,
    '--entrypoint',
    'containerd',
    nodeImage,
    '--address',
    `${SOCKET_DIR}/containerd.sock`,
    '--state',
    SOCKET_DIR,
    '--root',
    `${AGENT_DIR}/containerd`,
  );
  try {
    for (let i = 0; ; i++) {
      if ((await dockerTry('exec', id, 'ctr', 'version')).code === 0) break;
      if (i >= 60)
        throw new Error(`the store's containerd did not answer within 30 s: ${(await dockerTry('logs', '--tail', '20', id)).stderr}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await loadImages({ id }, refs, log);
    await docker('exec', id, 'touch', `${AGENT_DIR}/${STORE_COMPLETE}`);
    await docker('stop', '-t', '60', id); // containerd closes its database on SIGTERM
  } finally {
    await dockerTry('rm', '-f', '-v', id);
  }
  await removeSuperseded(volume, set, log);
  const seconds = secondsSince(t0);
  log(`image store ${volume}: built in ${seconds} s`);
  return { volume, built: true, seconds };
}

/** Earlier stores of the same set are stale; one a node still mounts stays (Docker refuses) until a later call. */
async function removeSuperseded(volume: string, set: string, log: (line: string) => void): Promise<void> {
  const others = (await docker('volume', 'ls', '-q', '--filter', `label=${SET_LABEL}=${set}`)).split('\n').filter((v) => v && v !== volume);
  for (const v of others) if ((await dockerTry('volume', 'rm', v)).code === 0) log(`image store ${v}: removed (superseded)`);
}

/** The layers of a node started from a store: its snapshot directories that link into the store. */
export async function linkedLayers(nodeId: string): Promise<string[]> {
  const out = await docker(
    'exec',
    nodeId,
    'find',
    `${AGENT_DIR}/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots`,
    '-maxdepth',
    '1',
    '-type',
    'l',
    '-lname',
    `${STORE_MOUNT}/*`,
  );
  return out.split('\n').filter(Boolean);
}

/** The store a running node of this name was started from (reusing it needs the same mounts). */
export async function runningNodeStore(name: string): Promise<string | undefined> {
  const ids = (await docker('ps', '-q', '--filter', `label=${CLUSTER_LABEL}=${name}`)).split('\n').filter(Boolean);
  if (ids.length === 0) return undefined;
  const v = await docker('inspect', '-f', `{{index .Config.Labels "${STORE_LABEL}"}}`, ids[0]!);
  return v && v !== '<no value>' ? v : '';
}

/** Removes every store volume that no container mounts (Docker refuses those); returns their names. */
export async function removeStores(): Promise<string[]> {
  const all = (await docker('volume', 'ls', '-q', '--filter', `label=${STORE_LABEL}`)).split('\n').filter(Boolean);
  const removed: string[] = [];
  for (const v of all) if ((await dockerTry('volume', 'rm', v)).code === 0) removed.push(v);
  return removed;
}
