// The whole stack, started and stopped in one place: `up()` goes from nothing to port-forwarded
// (preflight, engine, images, node, apply, rollout, forwards) and returns a started stack whose
// `stop()` is the one teardown; `stopStack()` is the same teardown for a stack another process
// started (dev:down). `npm run dev:up`, the test global setup and the bench all use these.
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ensureEngine } from '../../lib/engine.ts';
import { secondsSince } from '../../lib/time.ts';
import { REPO_ROOT, localDir, renderObjects } from '../../lib/kustomize.ts';
import { ensureOverlaySecrets, ensureOverlayTls, MissingSecretsError, parseEnv } from '../../lib/secrets.ts';
import { assertPortFree, forwardService, type Forward } from '../../lib/kube/port-forward.ts';
import { chooseImageMode, imagesUsed, prepareImages, renderWithImages, type ImageChoice, type StackImages } from './image-mode.ts';
import { startCluster, loadImages, removeNodes, type Cluster } from './cluster.ts';
import { ensureNodeStore, runningNodeStore, storeDisabled } from './node-store.ts';
import { applyObjects } from '../../lib/kube/apply.ts';
import { kubeConfigFromFile } from '../../lib/kube/config.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { deleteNamespace } from '../../lib/kube/namespace.ts';
import { prepareClusterFor } from '../../lib/kube/cluster-needs.ts';
import { useReaper } from '../../images/factory/testcontainers.ts';
import { STATE_DIR, type StackRecord } from '../../lib/stack-record.ts';
import { assertKubeconfigFile, stackNamespace } from '../../lib/preflight.ts';
import { configuredMirrors } from '../../lib/registry-mirror.ts';

export interface UpOptions {
  overlay: string;
  /**
   * Render this kustomization instead of manifests/local/<overlay> (a test's wrapper that adds
   * fixtures to an overlay); `secretsDir` then names the directory whose env files it generates.
   */
  dir?: string;
  secretsDir?: string;
  /** The stack's namespace when the render has several (a test's wrapper adding fixtures). */
  namespace?: string;
  /** Target an existing cluster instead of starting a k3s node. */
  kubeconfig?: string;
  context?: string;
  /**
   * With `kubeconfig`: that cluster already holds this project's hermetic images (it is a node the
   * harness started, e.g. a test applying a second overlay beside the dev stack), so run those
   * rather than have it pull upstream's.
   */
  hermeticImagesLoaded?: boolean;
  /** Local ports (0 = any free port). */
  ports?: { openWebui?: number; litellm?: number };
  /** Also forward the dev overlay's fake upstream (tests read what it received). */
  forwardFakeUpstream?: boolean;
  /** Leave the node running after this process (the reaper would remove it): a test run's CHATSTACK_KEEP_STACK=1. */
  keep?: boolean;
  /** Reuse the node of an earlier `dev:up` (Testcontainers reuse). */
  reuse?: boolean;
  /** Name of the node (distinct names, distinct clusters). */
  clusterName?: string;
  rolloutTimeoutMs?: number;
  /**
   * Recipes built together with the stack's own images (hermetic mode; built, not loaded): the
   * test suites' earlier releases, so their builds overlap the node image's instead of following it.
   */
  alsoBuild?: string[];
  log?: (line: string) => void;
}

export interface StackInfo extends StackRecord {
  images: ImageChoice;
  /** the node container's id and name when the harness started the node (not with --kubeconfig) */
  clusterId?: string;
  clusterName?: string;
  urls: { openWebui: string; litellm: string; fakeAnthropic?: string };
  /** the kustomization applied (render it to compare with what is live) */
  dir: string;
  /** the directory of the env files the stack's Secrets were generated from */
  secretsDir: string;
  credentials: { admin?: string; litellm: string };
  adminEmail?: string;
  /** the images this up() built: hermetic recipes, or (upstream mode) only ones on public base images */
  built: StackImages['built'];
  timings: Record<string, number>;
}

export interface StopOptions {
  /** Keep the node and remove only the stack's namespace (always so for a --kubeconfig cluster). */
  keepCluster?: boolean;
  log?: (line: string) => void;
}

export interface Stack {
  info: StackInfo;
  kc: KubeConfig;
  cluster?: Cluster;
  forwards: Forward[];
  /** Stops the forwards and leaves the stack running (dev:up's Ctrl-C: the next dev:up reuses it). */
  detach(): Promise<void>;
  /** Stops the forwards, then removes the node with its volumes, or with keepCluster only the namespace. */
  stop(opts?: StopOptions): Promise<string[]>;
}

/**
 * Tears down what `up()` started, from its StackInfo (so another process can do it): the node
 * container with its volumes, or only the namespace. Returns what it removed; idempotent.
 */
export async function stopStack(info: StackInfo, opts: StopOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  if (opts.keepCluster || !info.clusterName) {
    if (existsSync(info.kubeconfig) && (await deleteNamespace(kubeConfigFromFile(info.kubeconfig), info.namespace)))
      removed.push(`namespace ${info.namespace}`);
  } else {
    for (const id of await removeNodes(info.clusterName)) removed.push(`k3s node container ${id.slice(0, 12)} and its volumes`);
    if (info.kubeconfig.startsWith(STATE_DIR)) rmSync(info.kubeconfig, { force: true });
  }
  for (const r of removed) opts.log?.(`removed ${r}`);
  return removed;
}

export async function up(opts: UpOptions): Promise<Stack> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const timings: Record<string, number> = {};
  const t0 = Date.now();

  // ---- preflight: everything that can be wrong is found before anything starts
  const dir = opts.dir ?? localDir(opts.overlay);
  const secretsDir = opts.secretsDir ?? dir;
  const reports = ensureOverlaySecrets(secretsDir);
  for (const r of reports.filter((x) => x.created)) log(`secrets: generated ${relative(REPO_ROOT, r.file)}`);
  const tls = await ensureOverlayTls(secretsDir);
  for (const f of tls?.created ?? []) log(`secrets: generated ${relative(REPO_ROOT, f)}`);
  if (reports.some((r) => r.missing.length > 0)) throw new MissingSecretsError(reports, REPO_ROOT);
  const rendered = await renderObjects(dir); // a malformed overlay fails here, with kustomize's reason
  const namespace = stackNamespace(rendered, opts.overlay, opts.namespace);
  const ports = { openWebui: opts.ports?.openWebui ?? 0, litellm: opts.ports?.litellm ?? 0 };
  for (const p of Object.values(ports)) if (p) await assertPortFree(p);
  assertKubeconfigFile(opts.kubeconfig);
  configuredMirrors(); // a malformed CHATSTACK_REGISTRY_MIRROR stops here, saying what is expected
  if (!opts.kubeconfig) await ensureEngine(log);

  // ---- images
  let t = Date.now();
  // An existing cluster pulls the upstream images from its registries itself (the dev overlay's
  // fake upstream must be made available to it, e.g. `kind load docker-image`).
  const used = imagesUsed(rendered);
  const choice: ImageChoice = !opts.kubeconfig
    ? await chooseImageMode(process.env, used)
    : opts.hermeticImagesLoaded
      ? { mode: 'hermetic', reason: 'existing cluster that already holds the hermetic images' }
      : { mode: 'upstream', reason: 'existing cluster: it pulls the images itself' };
  log(`images: ${choice.mode} (${choice.reason})`);
  const images =
    opts.kubeconfig && !opts.hermeticImagesLoaded
      ? undefined
      : await prepareImages(choice.mode, { log: (l) => log(`images: ${l}`) }, used, opts.alsoBuild);
  timings['images'] = secondsSince(t);

  // ---- cluster
  let kc: KubeConfig;
  let kubeconfigPath: string;
  let cluster: Cluster | undefined;
  if (opts.kubeconfig) {
    kc = kubeConfigFromFile(opts.kubeconfig, opts.context);
    kubeconfigPath = opts.kubeconfig;
    log(`cluster: using ${opts.kubeconfig} (context ${kc.getCurrentContext()})`);
  } else {
    if (!images) throw new Error('no images prepared for the node');
    await useReaper(choice.mode, { log: (l) => log(`images: ${l}`) });
    // A fresh node starts from an image store holding the workload images (built once
    // per set of images); a reused node keeps the mounts it was started with, or no reuse matches.
    let store: string | undefined;
    if (choice.mode === 'hermetic' && !storeDisabled()) {
      const running = opts.reuse ? await runningNodeStore(opts.clusterName ?? 'test') : undefined;
      if (running !== undefined) store = running || undefined;
      else {
        t = Date.now();
        store = (await ensureNodeStore(images.node, images.workload, (l) => log(`images: ${l}`))).volume;
        timings['store'] = secondsSince(t);
      }
    }
    t = Date.now();
    cluster = await startCluster({
      image: images.node,
      reuse: opts.reuse,
      keep: opts.keep,
      name: opts.clusterName,
      store,
      log: (l) => log(`cluster: ${l}`),
    });
    timings['cluster'] = secondsSince(t);
    kc = cluster.kc;
    mkdirSync(STATE_DIR, { recursive: true });
    kubeconfigPath = join(STATE_DIR, `kubeconfig-${opts.clusterName ?? 'test'}.yaml`);
    writeFileSync(kubeconfigPath, cluster.kubeConfigYaml, { mode: 0o600 });
    t = Date.now();
    await loadImages(cluster, images.workload, (l) => log(`cluster: ${l}`));
    timings['loadImages'] = secondsSince(t);
  }

  // ---- apply and roll out
  t = Date.now();
  const swaps = images?.swaps ?? {};
  const objects = Object.keys(swaps).length === 0 ? rendered : await renderWithImages(dir, swaps);
  await prepareClusterFor(kc, objects, { ownNode: cluster !== undefined, log });
  await applyObjects(kc, objects, { overlay: opts.overlay, namespace }, (l) => log(`apply: ${l}`));
  timings['apply'] = secondsSince(t);
  t = Date.now();
  // Only namespaces that run something: one holding a Gateway or Secrets alone has nothing to wait for.
  const namespaces = objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
  const running = namespaces.filter((ns) =>
    objects.some((o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.namespace === ns),
  );
  await Promise.all(
    running.map((ns) =>
      waitUntilRolledOut(kc, ns, {
        timeoutMs: opts.rolloutTimeoutMs ?? 600_000,
        log: (l) => log(`rollout: ${ns === namespace ? '' : `${ns}/`}${l}`),
      }),
    ),
  );
  timings['rollout'] = secondsSince(t);

  // ---- forwards
  const forwards: Forward[] = [];
  const fwd = async (service: string, localPort = 0) => {
    const f = await forwardService(kc, namespace, service, { localPort, log: (l) => log(l) });
    forwards.push(f);
    return f.url;
  };
  const urls: StackInfo['urls'] = { openWebui: await fwd('open-webui', ports.openWebui), litellm: await fwd('litellm', ports.litellm) };
  if (opts.forwardFakeUpstream && objects.some((o) => o.kind === 'Service' && o.metadata.name === 'fake-anthropic')) {
    urls.fakeAnthropic = await fwd('fake-anthropic');
  }
  timings['total'] = secondsSince(t0);

  const adminFile = join(secretsDir, 'admin.env');
  const info: StackInfo = {
    overlay: opts.overlay,
    namespace,
    images: choice,
    kubeconfig: kubeconfigPath,
    clusterId: cluster?.id,
    clusterName: cluster ? (opts.clusterName ?? 'test') : undefined,
    urls,
    dir,
    secretsDir,
    credentials: { admin: existsSync(adminFile) ? adminFile : undefined, litellm: join(secretsDir, 'litellm.env') },
    adminEmail: existsSync(adminFile) ? parseEnv(readFileSync(adminFile, 'utf8')).get('WEBUI_ADMIN_EMAIL') : undefined,
    built: images?.built ?? [],
    timings,
  };
  const detach = async () => {
    await Promise.all(forwards.map((f) => f.close()));
  };
  return {
    info,
    kc,
    cluster,
    forwards,
    detach,
    stop: async (stopOpts = {}) => {
      await detach();
      return stopStack(info, stopOpts);
    },
  };
}

/** Reads a key from one of the generated env files (tests and scripts; never printed). */
export function stackSecret(secretsDir: string, file: string, key: string): string {
  const path = join(secretsDir, file);
  const value = parseEnv(readFileSync(path, 'utf8')).get(key);
  if (!value) throw new Error(`${relative(REPO_ROOT, path)} has no value for ${key} (run npm run secrets)`);
  return value;
}
