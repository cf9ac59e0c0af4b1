// The chat path under load, measured inside the cluster: Locust (dev/bench/locustfile.py) runs as a
// Job beside the stack and streams chats at each concurrency to the fake upstream (the floor),
// LiteLLM's Service and Open WebUI's API, side by side. Meanwhile the node's cgroups give each pod's
// CPU use, CPU throttling and memory. Prints figures; asserts nothing. Its image follows the stack's
// mode: hermetic builds images/locust, upstream pulls Locust's official image (`benchImage`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ensureImage } from '../../images/factory/build.ts';
import { loadRecipes, type Recipe } from '../../images/factory/recipes.ts';
import { loadImages, type Cluster } from '../lib/cluster.ts';
import { imageName, pullMissing, type ImageMode } from '../lib/image-mode.ts';
import { configuredModels } from '../../lib/models.ts';
import { REPO_ROOT } from '../../lib/kustomize.ts';
import { containerLogs, listPods } from '../../lib/kube/pod.ts';
import { stackSecret, type Stack } from '../lib/stack.ts';
import { waitUntil } from '../../lib/wait.ts';

const NAME = 'bench-loadgen';
const LABELS = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/part-of': 'chat-stack-bench' };
const TARGET_APPS = ['fake-anthropic', 'litellm', 'open-webui'];

/** The load generator: Locust's official image upstream, and the recipe that builds our equivalent. */
export const LOCUST = { upstream: 'locustio/locust', recipe: 'locust' } as const;

export interface BenchImage {
  /** the reference the Job runs */
  ref: string;
  /** built by the hermetic factory, or pulled from a registry (through CHATSTACK_REGISTRY_MIRROR's mirror if set) */
  source: 'built' | 'pulled';
}

/**
 * The load generator's image in a stack's image mode: hermetic, the images/locust build
 * (chatstack.local/locust); upstream, the recipe's inputs.upstream, Locust's official image at the
 * same release, pulled and never built (its Dockerfile's base is debootstrapped, which needs root).
 */
export function benchImage(mode: ImageMode, recipes: Map<string, Recipe>): BenchImage {
  const r = recipes.get(LOCUST.recipe);
  if (!r) throw new Error(`bench: no image recipe images/${LOCUST.recipe} (the load generator)`);
  if (mode === 'hermetic') return { ref: r.ref, source: 'built' };
  const upstream = String(r.inputs['upstream'] ?? '');
  if (imageName(upstream) !== LOCUST.upstream || upstream === LOCUST.upstream)
    throw new Error(`images/${LOCUST.recipe}/image.json: inputs.upstream must be a pinned tag of ${LOCUST.upstream}, not "${upstream}"`);
  return { ref: upstream, source: 'pulled' };
}

/** What getting the load generator's image asks of the factory and the engine (replaceable in tests). */
export interface BenchImageSteps {
  /** builds a recipe (hermetic) and returns its reference */
  build(recipe: string): Promise<string>;
  /** pulls an upstream reference the engine lacks, the way upstream mode pulls the stack's apps */
  pull(ref: string): Promise<void>;
}

/** Makes the load generator's image of `mode` (the stack's, as it was brought up) available locally; returns its reference. */
export async function ensureBenchImage(
  mode: ImageMode,
  log: (line: string) => void,
  steps: BenchImageSteps = {
    build: async (recipe) => (await ensureImage(recipe, { log })).ref,
    pull: (ref) => pullMissing([ref], log),
  },
): Promise<string> {
  const want = benchImage(mode, await loadRecipes());
  if (want.source === 'pulled') {
    await steps.pull(want.ref);
    return want.ref;
  }
  const built = await steps.build(LOCUST.recipe);
  if (built !== want.ref) throw new Error(`bench: images/${LOCUST.recipe} built ${built}, expected ${want.ref}`);
  return built;
}

export interface LoadOptions {
  concurrency: number[];
  /** seconds of load per cell (target × concurrency) */
  seconds: number;
  /** words in each prompt: the fake echoes them, one streamed token (TOKEN_DELAY_MS apart) per word */
  words: number;
  /** which hops to load: fake, litellm, openwebui (the floor is needed for the overhead columns) */
  hops: string[];
  log: (line: string) => void;
}

interface Quantiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface CellResult {
  target: string;
  concurrency: number;
  seconds: number;
  completed: number;
  errors: number;
  errorSamples: [string, number][];
  rps: number;
  ttft: Quantiles;
  total: Quantiles;
  /**
   * LiteLLM's own `x-litellm-overhead-duration-ms` (its handler's time outside the provider call,
   * which leaves out any wait before the handler runs): the measure upstream's benchmarks publish.
   * null for a hop that does not send it.
   */
  litellmOverhead?: Quantiles | null;
  /** per app: CPU cores used on average, share of CFS periods throttled, peak working set */
  pods: Record<string, PodUsage>;
}

export interface PodUsage {
  cpuCores: number;
  throttledPct: number;
  throttledSeconds: number;
  memoryPeakMiB: number;
}

interface CgroupSample {
  at: number;
  usageNs: number;
  periods: number;
  throttled: number;
  throttledNs: number;
  workingSetBytes: number;
}

/** The cgroup figures of every pod on the node, keyed by pod UID (cgroup v1 and v2, cgroupfs or systemd driver). */
export async function samplePodCgroups(cluster: Cluster): Promise<Map<string, CgroupSample>> {
  const script = [
    'for d in $(find /sys/fs/cgroup -maxdepth 7 -type d -name "*pod*" 2>/dev/null); do',
    '  echo "== $d"',
    '  cat "$d/cpu.stat" 2>/dev/null; printf "cpuacct_usage %s\\n" "$(cat "$d/cpuacct.usage" 2>/dev/null)"',
    '  printf "mem_usage %s\\n" "$(cat "$d/memory.usage_in_bytes" "$d/memory.current" 2>/dev/null | head -1)"',
    '  grep -E "^(total_inactive_file|inactive_file) " "$d/memory.stat" 2>/dev/null',
    'done',
  ].join('\n');
  const r = await cluster.container.exec(['sh', '-c', script]);
  const at = Date.now();
  const out = new Map<string, CgroupSample>();
  let uid: string | undefined;
  const v1Usage = new Set<string>();
  const field = (key: string, value: number) => {
    if (!uid || Number.isNaN(value)) return;
    const s = out.get(uid) ?? { at, usageNs: 0, periods: 0, throttled: 0, throttledNs: 0, workingSetBytes: 0 };
    // v1's cpuacct wins over a v2 usage_usec (a hybrid host shows both; only one is the controller).
    if (key === 'usage_usec' && !v1Usage.has(uid)) s.usageNs = value * 1000;
    else if (key === 'cpuacct_usage' && value) {
      s.usageNs = value;
      v1Usage.add(uid);
    } else if (key === 'nr_periods') s.periods = value;
    else if (key === 'nr_throttled') s.throttled = value;
    else if (key === 'throttled_usec') s.throttledNs = value * 1000;
    else if (key === 'throttled_time') s.throttledNs = value;
    else if (key === 'mem_usage') s.workingSetBytes += value;
    else if (key === 'total_inactive_file' || key === 'inactive_file') s.workingSetBytes -= value;
    out.set(uid, s);
  };
  for (const line of r.output.split('\n')) {
    const head = /^== .*pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(\.slice)?$/.exec(line);
    if (line.startsWith('== ')) {
      // Only the pod level (not its containers below it): v1 repeats it per controller, merged here.
      uid = head ? head[1]!.replaceAll('_', '-') : undefined;
      continue;
    }
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) field(key, Number(value));
  }
  return out;
}

function usageBetween(a: CgroupSample | undefined, b: CgroupSample | undefined, peakBytes: number): PodUsage | undefined {
  if (!a || !b || b.at <= a.at) return undefined;
  const periods = b.periods - a.periods;
  return {
    cpuCores: Math.round(((b.usageNs - a.usageNs) / 1e6 / (b.at - a.at)) * 100) / 100,
    throttledPct: periods > 0 ? Math.round(((b.throttled - a.throttled) / periods) * 1000) / 10 : 0,
    throttledSeconds: Math.round((b.throttledNs - a.throttledNs) / 1e8) / 10,
    memoryPeakMiB: Math.round(peakBytes / 2 ** 20),
  };
}

async function signIn(baseUrl: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/auths/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`bench: signing in to Open WebUI failed: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** The plan Locust reads (it holds keys, so it travels in a Secret). */
async function plan(stack: Stack, opts: LoadOptions): Promise<string> {
  const secret = (file: string, key: string) => stackSecret(stack.info.secretsDir, file, key);
  const model = configuredModels()[0]!;
  const token = await signIn(
    stack.info.urls.openWebui,
    secret('admin.env', 'WEBUI_ADMIN_EMAIL'),
    secret('admin.env', 'WEBUI_ADMIN_PASSWORD'),
  );
  const targets = [
    {
      hop: 'fake',
      name: 'fake upstream',
      url: 'http://fake-anthropic:8080/v1/messages',
      protocol: 'anthropic',
      headers: { 'x-api-key': secret('litellm.env', 'ANTHROPIC_API_KEY'), 'anthropic-version': '2023-06-01' },
      model: model.anthropicId,
    },
    {
      hop: 'litellm',
      name: 'LiteLLM',
      url: 'http://litellm:4000/v1/chat/completions',
      protocol: 'openai',
      headers: { authorization: `Bearer ${secret('litellm.env', 'LITELLM_MASTER_KEY')}` },
      model: model.name,
    },
    {
      hop: 'openwebui',
      name: 'Open WebUI',
      url: 'http://open-webui:8080/api/chat/completions',
      protocol: 'openai',
      headers: { authorization: `Bearer ${token}` },
      model: model.name,
    },
  ];
  for (const h of opts.hops)
    if (!targets.some((t) => t.hop === h)) throw new Error(`bench: unknown hop ${h}: expected fake, litellm, openwebui`);
  return JSON.stringify({
    targets: targets.filter((t) => opts.hops.includes(t.hop)),
    concurrency: opts.concurrency,
    seconds: opts.seconds,
    words: opts.words,
    pauseSeconds: 3,
  });
}

/**
 * The Job, its script and plan, and the NetworkPolicies that let it (and only it) reach the three
 * targets. The Job leans on no default of its image, as images/locust and Locust's official image
 * differ: their working directory (/tmp; /home/locust, the image's `locust` user's), their user
 * (10001; `locust`, a name runAsNonRoot could not check) and Python's environment. Only `python`
 * comes from the image's PATH, the Locust venv's first in both (/opt/locust/bin; /opt/venv/bin).
 */
export function benchObjects(namespace: string, image: string, planJson: string): k8s.KubernetesObject[] {
  const meta = (kind: string) => ({ name: kind === 'NetworkPolicy' ? `${NAME}-egress` : NAME, namespace, labels: LABELS });
  const locustfile = readFileSync(join(REPO_ROOT, 'dev/bench/locustfile.py'), 'utf8');
  const ports = [
    { protocol: 'TCP', port: 8080 },
    { protocol: 'TCP', port: 4000 },
  ];
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('ConfigMap'), data: { 'locustfile.py': locustfile } } as k8s.V1ConfigMap,
    { apiVersion: 'v1', kind: 'Secret', metadata: meta('Secret'), stringData: { BENCH_PLAN: planJson } } as k8s.V1Secret,
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('NetworkPolicy'),
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': NAME } },
        policyTypes: ['Egress'],
        egress: [
          { to: [{ podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: TARGET_APPS }] } }], ports },
        ],
      },
    } as k8s.V1NetworkPolicy,
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { ...meta('NetworkPolicy'), name: `${NAME}-ingress` },
      spec: {
        podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: TARGET_APPS }] },
        policyTypes: ['Ingress'],
        ingress: [{ _from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': NAME } } }], ports }],
      },
    } as k8s.V1NetworkPolicy,
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta('Job'),
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 600,
        template: {
          metadata: { labels: LABELS },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'locust',
                image,
                imagePullPolicy: 'Never',
                command: ['python', '/bench/locustfile.py'],
                workingDir: '/tmp',
                env: [
                  { name: 'BENCH_PLAN', valueFrom: { secretKeyRef: { name: NAME, key: 'BENCH_PLAN' } } },
                  // uid 10001 has no home in either image, and only /tmp is writable
                  { name: 'HOME', value: '/tmp' },
                  // the driver reads START/RESULT lines from the log as they come
                  { name: 'PYTHONUNBUFFERED', value: '1' },
                  // read-only root: no bytecode caches to write
                  { name: 'PYTHONDONTWRITEBYTECODE', value: '1' },
                ],
                resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'bench', mountPath: '/bench', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'bench', configMap: { name: NAME } },
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ],
          },
        },
      },
    } as k8s.V1Job,
  ];
}

async function removeBench(kc: k8s.KubeConfig, namespace: string, objs: k8s.KubernetesObject[]): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) {
    await api
      .delete(
        { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata!.name!, namespace } },
        undefined,
        undefined,
        0,
        undefined,
        'Background',
      )
      .catch((err: { code?: number }) => {
        if (err.code !== 404) throw err;
      });
  }
  // The next run's pod must not be confused with this one's.
  await waitUntil(
    'the previous benchmark pod gone',
    async () => ((await listPods(kc, namespace, `app.kubernetes.io/name=${NAME}`)).length === 0 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** Runs the load Job against a running dev stack and returns one result per target and concurrency. */
export async function benchLoad(stack: Stack, opts: LoadOptions): Promise<CellResult[]> {
  if (!stack.cluster)
    throw new Error("bench: the load benchmark reads the node's cgroups, so it needs a node the harness started (not --kubeconfig)");
  const { kc, cluster } = stack;
  const namespace = stack.info.namespace;
  // The mode the stack was brought up with (up() chose it once), never decided again here.
  const image = await ensureBenchImage(stack.info.images.mode, (l) => opts.log(`images: ${l}`));
  await loadImages(cluster, [image], opts.log);
  const objs = benchObjects(namespace, image, await plan(stack, opts));
  await removeBench(kc, namespace, objs);
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of objs) await api.create(o);

  const uidOf = new Map<string, string>();
  for (const app of [...TARGET_APPS, NAME]) {
    const pods = await waitUntil(
      `a running pod of ${app}`,
      async () => {
        const ps = (await listPods(kc, namespace, `app.kubernetes.io/name=${app}`)).filter(
          (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
        );
        return ps.length ? ps : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    if (pods.length > 1) opts.log(`bench: ${app} runs ${pods.length} pods; the figures are the first one's`);
    uidOf.set(app, pods[0]!.metadata!.uid!);
  }
  const pod = (await listPods(kc, namespace, `app.kubernetes.io/name=${NAME}`))[0]!.metadata!.name!;

  const results: CellResult[] = [];
  let seen = 0;
  let startSample: Map<string, CgroupSample> | undefined;
  const peaks = new Map<string, number>();
  const cells = opts.concurrency.length * opts.hops.length;
  const deadline = Date.now() + cells * (opts.seconds + 40) * 1000 + 120_000;
  for (;;) {
    const sample = await samplePodCgroups(cluster);
    for (const [app, uid] of uidOf) peaks.set(app, Math.max(peaks.get(app) ?? 0, sample.get(uid)?.workingSetBytes ?? 0));
    const lines = (await containerLogs(kc, namespace, pod, 'locust', 10_000)).split('\n');
    const events = lines.filter((l) => l.startsWith('START ') || l.startsWith('RESULT '));
    for (const line of events.slice(seen)) {
      if (line.startsWith('START ')) {
        startSample = sample;
        peaks.clear();
        const cell = JSON.parse(line.slice(6)) as { target: string; concurrency: number };
        opts.log(`bench: ${cell.target} at concurrency ${cell.concurrency} for ${opts.seconds} s`);
      } else {
        const r = JSON.parse(line.slice(7)) as Omit<CellResult, 'pods'>;
        const pods: Record<string, PodUsage> = {};
        for (const [app, uid] of uidOf) {
          const u = usageBetween(startSample?.get(uid), sample.get(uid), peaks.get(app) ?? 0);
          if (u) pods[app] = u;
        }
        results.push({ ...r, pods });
      }
    }
    seen = events.length;
    if (results.length === cells) break;
    const phase = (await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: pod, namespace })).status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') {
      throw new Error(
        `bench: the load generator ended (${phase}) after ${results.length} of ${cells} cells:\n${lines.slice(-30).join('\n')}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`bench: the load generator did not finish in time (${results.length} of ${cells} cells)`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  await removeBench(kc, namespace, objs);
  return results;
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '–' : v.toFixed(digits));

/** Two tables: latency per hop with its overhead over the floor, and each pod's CPU and memory. */
export function formatLoad(results: CellResult[]): string {
  const floor = (c: number) => results.find((r) => r.concurrency === c && r.target === 'fake upstream');
  const rows = [
    'hop | c | TTFT p50 / p95 / p99 (ms) | TTFT p50 over floor | total p50 / p95 / p99 (ms) | req/s | errors',
    '---|---|---|---|---|---|---',
  ];
  for (const r of results) {
    const f = floor(r.concurrency);
    const over =
      r === f || !f?.ttft.p50 || r.ttft.p50 === null
        ? 'floor'
        : `+${fmt(r.ttft.p50 - f.ttft.p50)} ms (×${(r.ttft.p50 / f.ttft.p50).toFixed(2)})`;
    const errs = r.errors ? `${r.errors} (${r.errorSamples.map(([m, n]) => `${n}× ${m.slice(0, 80)}`).join('; ')})` : '0';
    rows.push(
      `${r.target} | ${r.concurrency} | ${fmt(r.ttft.p50)} / ${fmt(r.ttft.p95)} / ${fmt(r.ttft.p99)} | ${over} | ${fmt(r.total.p50)} / ${fmt(r.total.p95)} / ${fmt(r.total.p99)} | ${r.rps} | ${errs}`,
    );
  }
  const own = results.filter((r) => r.litellmOverhead);
  if (own.length > 0) {
    rows.push(
      '',
      "LiteLLM's own overhead header (x-litellm-overhead-duration-ms, from its handler's start: upstream's published measure)",
      'hop | c | p50 / p95 / p99 (ms) | TTFT p50 over floor, for comparison',
      '---|---|---|---',
    );
    for (const r of own) {
      const f = floor(r.concurrency);
      const o = r.litellmOverhead!;
      rows.push(
        `${r.target} | ${r.concurrency} | ${fmt(o.p50, 1)} / ${fmt(o.p95, 1)} / ${fmt(o.p99, 1)} | ${f?.ttft.p50 && r.ttft.p50 !== null ? `+${fmt(r.ttft.p50 - f.ttft.p50)} ms` : '–'}`,
      );
    }
  }
  const apps = [...new Set(results.flatMap((r) => Object.keys(r.pods)))];
  const usage = [
    `hop | c | ${apps.map((a) => `${a} CPU cores, throttled %, peak MiB`).join(' | ')}`,
    `---|---|${apps.map(() => '---').join('|')}`,
  ];
  for (const r of results) {
    usage.push(
      `${r.target} | ${r.concurrency} | ${apps.map((a) => (r.pods[a] ? `${r.pods[a]!.cpuCores}, ${r.pods[a]!.throttledPct} %, ${r.pods[a]!.memoryPeakMiB}` : '–')).join(' | ')}`,
    );
  }
  return `${rows.join('\n')}\n\nCPU and memory of each pod during each run (node cgroups)\n${usage.join('\n')}`;
}
