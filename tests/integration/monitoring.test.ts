// components/monitoring and components/tracing against a real Prometheus (built from its Go
// module, images/prometheus) and a real OpenTelemetry Collector (images/otel-collector): the dev
// overlay with both components, in a namespace of its own on the dev node, scraped by a Prometheus
// in `monitoring-test` that stands where kube-prometheus-stack's does, and sending its traces to
// the collector there. There is no Prometheus Operator here (it does not build from the module
// proxy), so the test generates what the operator would from the component's PodMonitor and
// PrometheusRule (tests/support/prometheus.ts) and applies everything else of the render as it is.
// Chats and faults driven through the fake upstream must show up as exactly the counts the test
// caused; the rules must load, and 529s must take the upstream-errors alert through pending to
// firing; every metric the rules and the dashboard use must be one the scrape really has
// (kube-state-metrics, images/kube-state-metrics, is scraped too, and a LiteLLM killed for memory
// at every start takes the pod alerts to firing); a chat must be one trace across Open WebUI and
// LiteLLM; and only their peers reach the metrics and OTLP ports.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { stringify } from 'yaml';
import { stackSecret, up, type Stack } from '../../dev/lib/stack.ts';
import { loadImages } from '../../dev/lib/cluster.ts';
import { ensureImages } from '../../images/factory/build.ts';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';
import { deleteNamespace } from '../../lib/kube/namespace.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { containerLogs, deletePod, listPods, podOf } from '../../lib/kube/pod.ts';
import { REPO_ROOT, renderObjects, type KubeObject } from '../../lib/kustomize.ts';
import { waitUntil } from '../../lib/wait.ts';
import type { FaultRule } from '../../fake-anthropic/src/faults.ts';
import { setFaults as setFaultsOf } from '../support/fake-upstream.ts';
import { kc, stack as devStack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { chatThroughOpenWebui, streamChat } from '../support/open-webui.ts';
import { canConnect, createProbePod } from '../support/probes.ts';
import {
  PrometheusApi,
  ruleFileFor,
  scrapeConfigsFor,
  writeMonitoredDev,
  type PodMonitor,
  type PrometheusRule,
} from '../support/prometheus.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const NS = 'chat-metrics';
const MON_NS = 'monitoring-test';
/** Scrape and rule evaluation every 5 s, and every alert's `for` shortened to this (promtool checks the real ones). */
const FOR = '15s';
const log = (l: string) => console.log(`[monitoring] ${l}`);
const FIXTURE_RECIPES = ['prometheus', 'otel-collector', 'kube-state-metrics'];

const model = (name: string) => {
  const m = configuredModels().find((c) => c.name === name);
  if (!m) throw new Error(`${name} is not configured`);
  return m;
};
const HAIKU = model('claude-haiku-5-5');
const SONNET = model('claude-sonnet-5-5');

let ws: Workspace;
let stack: Stack | undefined;
let prom: PrometheusApi;
let promForward: Forward | undefined;
let rendered: KubeObject[];
let podMonitor: PodMonitor;
let rule: PrometheusRule;
let litellm: OpenAI;
let secretsDir: string;

function find<T extends KubeObject>(kind: string, name: string): T {
  const o = rendered.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`the render has no ${kind}/${name}`);
  return o as T;
}

/** The Prometheus fixture with the config and rules generated from the render, and its Role in NS. */
function writePrometheus(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const config = {
    global: { scrape_interval: '5s', evaluation_interval: '5s', extra_scrape_metrics: true },
    rule_files: ['/etc/prometheus/chat-stack.rules.yaml'],
    scrape_configs: [
      ...scrapeConfigsFor(podMonitor, '5s'),
      // As kube-prometheus-stack scrapes it: its own namespace, pod and container labels kept.
      { job_name: 'kube-state-metrics', honor_labels: true, static_configs: [{ targets: [`kube-state-metrics.${MON_NS}.svc:8080`] }] },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  writeFileSync(join(dir, 'chat-stack.rules.yaml'), stringify(ruleFileFor(rule, FOR)));
  const rbac = [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'prometheus-discovery', namespace: NS },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'prometheus-discovery', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'prometheus-discovery' },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: MON_NS }],
    },
    // kube-state-metrics watches the stack's pods only (--namespaces below), so it needs no ClusterRole.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'kube-state-metrics', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'prometheus-discovery' },
      subjects: [{ kind: 'ServiceAccount', name: 'kube-state-metrics', namespace: MON_NS }],
    },
  ];
  writeFileSync(join(dir, 'rbac.yaml'), rbac.map((o) => stringify(o)).join('---\n'));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      resources: [relative(dir, join(REPO_ROOT, 'tests/integration/fixtures/monitoring')), 'rbac.yaml'],
      configMapGenerator: [{ name: 'prometheus-config', namespace: MON_NS, files: ['prometheus.yml', 'chat-stack.rules.yaml'] }],
      patches: [
        {
          target: { kind: 'Deployment', name: 'kube-state-metrics' },
          patch: stringify([{ op: 'add', path: '/spec/template/spec/containers/0/args/-', value: `--namespaces=${NS}` }]),
        },
      ],
    }),
  );
}

/** What is applied: both, without the operator's objects (no CRDs for them on this node). */
function writeApplied(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const drop = (kind: string, name: string) => ({
    patch: stringify({ apiVersion: 'monitoring.coreos.com/v1', kind, metadata: { name }, $patch: 'delete' }),
  });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      resources: ['../monitored', '../prometheus'],
      patches: [drop('PodMonitor', 'litellm'), drop('PrometheusRule', 'chat-stack')],
    }),
  );
}

const setFaults = (rules: FaultRule[]) => setFaultsOf(rules, stack!.info.urls.fakeAnthropic);

/** Sums of `exprs` once Prometheus has scraped past `after` (so a change the test caused is in them). */
async function valuesAfter(after: number, exprs: Record<string, string>): Promise<Record<string, number>> {
  await waitUntil(
    'a scrape after the requests',
    async () => {
      const t = await prom.value(`max(timestamp(up{namespace="${NS}", container="litellm"}))`);
      return t * 1000 > after ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 1_000 },
  );
  const out: Record<string, number> = {};
  for (const [k, e] of Object.entries(exprs)) out[k] = await prom.value(e);
  return out;
}

const sel = (labels: Record<string, string>) =>
  `{${Object.entries({ namespace: NS, ...labels })
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;

/** Runs `act`, then returns how much each counter expression moved. */
async function delta(exprs: Record<string, string>, act: () => Promise<void>): Promise<Record<string, number>> {
  const before = await valuesAfter(Date.now(), exprs);
  await act();
  const after = await valuesAfter(Date.now(), exprs);
  return Object.fromEntries(Object.keys(exprs).map((k) => [k, Math.round((after[k]! - before[k]!) * 1000) / 1000]));
}

beforeAll(async () => {
  ws = await createWorkspace();
  writeMonitoredDev(join(ws.root, 'monitored'), NS, MON_NS);
  rendered = await renderObjects(join(ws.root, 'monitored'));
  podMonitor = find<PodMonitor>('PodMonitor', 'litellm');
  rule = find<PrometheusRule>('PrometheusRule', 'chat-stack');
  writePrometheus(join(ws.root, 'prometheus'));
  writeApplied(join(ws.root, 'applied'));

  // Prometheus and the collector are the images the dev node was not started with.
  const hermetic = devStack.images.mode === 'hermetic';
  if (hermetic) {
    const built = (await ensureImages(FIXTURE_RECIPES, { log })).filter((b) => FIXTURE_RECIPES.includes(b.name));
    await loadImages(
      { id: devStack.clusterId! },
      built.map((b) => b.ref),
      log,
    );
  }
  secretsDir = join(ws.localDir, 'dev');
  stack = await up({
    overlay: 'dev',
    dir: join(ws.root, 'applied'),
    secretsDir,
    namespace: NS,
    kubeconfig: devStack.kubeconfig,
    hermeticImagesLoaded: hermetic,
    forwardFakeUpstream: true,
    log,
  });
  promForward = await forwardService(stack.kc, MON_NS, 'prometheus', { log });
  prom = new PrometheusApi(promForward.url);
  litellm = new OpenAI({
    baseURL: `${stack.info.urls.litellm}/v1`,
    apiKey: stackSecret(secretsDir, 'litellm.env', 'LITELLM_MASTER_KEY'),
    maxRetries: 0,
    timeout: 90_000,
  });
}, 600_000);

afterAll(async () => {
  await promForward?.close();
  if (stack) {
    await stack.detach();
    for (const ns of [NS, MON_NS]) await deleteNamespace(stack.kc, ns);
  }
  ws?.[Symbol.dispose]();
}, 300_000);

describe('LiteLLM metrics in a real Prometheus', { timeout: 180_000 }, () => {
  it('scrapes every LiteLLM pod that the PodMonitor selects, on the metrics port', async () => {
    const target = await waitUntil(
      'the LiteLLM target up',
      async () => (await prom.targets()).find((t) => t.labels['container'] === 'litellm' && t.health === 'up'),
      { timeoutMs: 60_000, intervalMs: 1_000, describe: async () => JSON.stringify(await prom.targets()) },
    );
    const pod = (await podOf(stack!.kc, NS, 'litellm')).metadata!.name!;
    expect(target.labels).toMatchObject({ namespace: NS, pod, job: `${NS}/litellm`, endpoint: 'metrics' });
    expect(target.scrapeUrl).toMatch(/:4001\/metrics\/$/);
    const samples = await prom.value(`scrape_samples_scraped${sel({ pod })}`);
    const bytes = await prom.value(`scrape_body_size_bytes${sel({ pod })}`);
    const seconds = await prom.value(`scrape_duration_seconds${sel({ pod })}`);
    log(`scrape of ${pod}: ${samples} samples, ${(bytes / 1024).toFixed(1)} KiB, ${(seconds * 1000).toFixed(1)} ms`);
    expect(samples).toBeGreaterThan(0);
  });
});

// Before the faults below: the upstream-errors alert must start inactive.
describe('the alerts', { timeout: 240_000 }, () => {
  it('load in Prometheus, every one healthy', async () => {
    const loaded = await waitUntil(
      'the rules evaluated',
      async () => {
        const r = await prom.rules();
        return r.length && r.every((x) => x.health === 'ok') ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1_000, describe: async () => JSON.stringify(await prom.rules()) },
    );
    const want = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert ?? r.record));
    expect(loaded.map((r) => r.name).sort()).toEqual([...want].sort());
  });

  it('takes ChatStackUpstreamErrors through pending to firing while Anthropic answers 529', async () => {
    const states: string[] = [];
    const state = async () =>
      (await prom.alerts()).find((a) => a.labels['alertname'] === 'ChatStackUpstreamErrors' && a.labels['namespace'] === NS)?.state;
    expect(await state(), 'not active before the fault').toBeUndefined();
    await setFaults([{ kind: 'overloaded', model: SONNET.anthropicId }]);
    try {
      let stop = false;
      // Traffic that keeps meeting 529s: sonnet always overloaded (haiku, its fallback, answers).
      const traffic = (async () => {
        while (!stop) await streamChat(litellm, SONNET.name, 'busy?');
      })();
      await waitUntil(
        'ChatStackUpstreamErrors firing',
        async () => {
          const s = await state();
          if (s && states.at(-1) !== s) states.push(s);
          return s === 'firing' ? true : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 1_000, describe: async () => JSON.stringify(await prom.alerts()) },
      );
      stop = true;
      await traffic;
    } finally {
      await setFaults([]);
    }
    log(`ChatStackUpstreamErrors: ${states.join(' → ')}`);
    expect(states).toEqual(['pending', 'firing']);
  });
});

describe('counts in Prometheus', { timeout: 180_000 }, () => {
  // The scrape's size once every kind of request below has been counted (a figure, not asserted).
  afterAll(async () => {
    const pod = (await podOf(stack!.kc, NS, 'litellm')).metadata!.name!;
    const [samples, bytes, seconds] = await Promise.all(
      ['scrape_samples_scraped', 'scrape_body_size_bytes', 'scrape_duration_seconds'].map((m) => prom.value(`${m}${sel({ pod })}`)),
    );
    log(
      `scrape of ${pod} after the tests' traffic: ${samples} samples, ${(bytes! / 1024).toFixed(1)} KiB, ${(seconds! * 1000).toFixed(1)} ms`,
    );
  });

  it('counts the chats the test made, with their time to first token and tokens', async () => {
    const d = await delta(
      {
        answered: `sum(litellm_proxy_total_requests_metric_total${sel({ requested_model: HAIKU.name, status_code: '200' })})`,
        firstTokens: `sum(litellm_llm_api_time_to_first_token_metric_count${sel({ model_group: HAIKU.name })})`,
        calls: `sum(litellm_deployment_total_requests_total${sel({ litellm_model_name: HAIKU.name })})`,
        failed: `sum(litellm_proxy_failed_requests_metric_total${sel({})})`,
        outputTokens: `sum(litellm_output_tokens_metric_total${sel({ model: HAIKU.name })})`,
      },
      async () => {
        for (let i = 0; i < 5; i++) expect((await streamChat(litellm, HAIKU.name, `count me ${i}`)).error).toBeUndefined();
      },
    );
    log(`5 chats: ${JSON.stringify(d)}`);
    expect(d).toMatchObject({ answered: 5, firstTokens: 5, calls: 5, failed: 0 });
    expect(d['outputTokens']).toBeGreaterThan(0);
  });

  it("counts Anthropic's 429s and the fallback that answered (once per request, not per retry)", async () => {
    const d = await delta(
      {
        rateLimited: `sum(litellm_deployment_failure_responses_total${sel({ litellm_model_name: HAIKU.name, exception_status: '429' })})`,
        fellBack: `sum(litellm_deployment_successful_fallbacks_total${sel({ requested_model: HAIKU.name, fallback_model: SONNET.name })})`,
        failed: `sum(litellm_proxy_failed_requests_metric_total${sel({})})`,
      },
      async () => {
        // Three 429s: the first try and both retries of haiku; then its fallback, sonnet, answers.
        await setFaults([{ kind: 'rate_limit', model: HAIKU.anthropicId, times: 3, retryAfterSeconds: 0 }]);
        const got = await streamChat(litellm, HAIKU.name, 'rate limited');
        await setFaults([]);
        expect(got.error).toBeUndefined();
      },
    );
    log(`three 429s, then the fallback: ${JSON.stringify(d)}`);
    expect(d).toEqual({ rateLimited: 1, fellBack: 1, failed: 0 });
  });

  it("counts an overloaded Anthropic (529, which LiteLLM records as 500) and the user's error", async () => {
    const d = await delta(
      {
        overloaded: `sum(litellm_deployment_failure_responses_total${sel({ litellm_model_name: HAIKU.name, exception_status: '500' })})`,
        fallbackFailed: `sum(litellm_deployment_failed_fallbacks_total${sel({ requested_model: HAIKU.name })})`,
        failed: `sum(litellm_proxy_failed_requests_metric_total${sel({ requested_model: HAIKU.name })})`,
      },
      async () => {
        // Every attempt of this request answers 529, the fallback's too.
        expect((await streamChat(litellm, HAIKU.name, '[[fault overloaded]] always')).error).toBeDefined();
      },
    );
    log(`always overloaded: ${JSON.stringify(d)}`);
    // haiku's deployment failed once (its retry not counted), then its fallback failed too.
    expect(d).toEqual({ overloaded: 1, fallbackFailed: 1, failed: 1 });
  });

  it('counts a stalled stream as a failed request (a read timeout upstream)', async () => {
    const d = await delta(
      {
        timedOut: `sum(litellm_deployment_failure_responses_total${sel({ litellm_model_name: HAIKU.name, exception_class: 'ReadTimeout' })})`,
        failed: `sum(litellm_proxy_failed_requests_metric_total${sel({ requested_model: HAIKU.name })})`,
      },
      async () => {
        const got = await streamChat(litellm, HAIKU.name, '[[fault stall delay_ms=20000 after_tokens=2]] one two three', {
          stream_timeout: 2,
        });
        expect(got.error?.message).toMatch(/timeout|timed out/i);
      },
    );
    log(`stalled stream: ${JSON.stringify(d)}`);
    expect(d).toEqual({ timedOut: 1, failed: 1 });
  });
});

describe('the metrics port', { timeout: 120_000 }, () => {
  let probeImage = '';
  beforeAll(async () => {
    probeImage = (await podOf(kc, devStack.namespace, 'fake-anthropic')).spec!.containers[0]!.image!;
    await Promise.all([
      // The scraper's labels in the scraper's namespace, and the same labels in the stack's own.
      createProbePod(kc, MON_NS, 'probe-scraper', probeImage, { 'app.kubernetes.io/name': 'prometheus' }),
      createProbePod(kc, MON_NS, 'probe-unlabelled', probeImage, { run: 'probe' }),
      createProbePod(kc, NS, 'probe-scraper-here', probeImage, { 'app.kubernetes.io/name': 'prometheus' }),
    ]);
  }, 180_000);
  // probe-scraper carries Prometheus's labels, so the prometheus Service (and the test's forward to
  // it) would pick it too.
  afterAll(async () => {
    await Promise.all([
      deletePod(kc, MON_NS, 'probe-scraper'),
      deletePod(kc, MON_NS, 'probe-unlabelled'),
      deletePod(kc, NS, 'probe-scraper-here'),
    ]);
    await waitUntil(
      'the probe pods gone',
      async () => ((await listPods(kc, MON_NS, 'app.kubernetes.io/name=prometheus')).length === 1 ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
  }, 120_000);

  it("is reached by the monitoring namespace's Prometheus, and by no one else", async () => {
    const ip = (await podOf(stack!.kc, NS, 'litellm')).status!.podIP!;
    // Positive control: the scraper's labels in its namespace reach the metrics port.
    expect(await canConnect(kc, MON_NS, 'probe-scraper', 'probe', 'node', ip, 4001)).toBe(true);
    expect(await canConnect(kc, MON_NS, 'probe-unlabelled', 'probe', 'node', ip, 4001)).toBe(false);
    expect(await canConnect(kc, NS, 'probe-scraper-here', 'probe', 'node', ip, 4001)).toBe(false);
  });

  it("keeps the scraper off LiteLLM's API port", async () => {
    const ip = (await podOf(stack!.kc, NS, 'litellm')).status!.podIP!;
    const openWebui = (await podOf(stack!.kc, NS, 'open-webui')).metadata!.name!;
    // Positive control: Open WebUI reaches the API port.
    expect(await canConnect(stack!.kc, NS, openWebui, 'open-webui', 'python', ip, 4000)).toBe(true);
    expect(await canConnect(kc, MON_NS, 'probe-scraper', 'probe', 'node', ip, 4000)).toBe(false);
  });
});

interface ExportedSpan {
  service: string;
  traceId: string;
  name: string;
  text: string;
}

/** The spans the collector's debug exporter printed (verbosity: detailed), with their resource's service.name. */
function spansIn(log: string): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const resource of log.split(/ResourceSpans #\d+/).slice(1)) {
    const service = /service\.name: Str\(([^)]+)\)/.exec(resource)?.[1] ?? '';
    for (const span of resource.split(/\nSpan #\d+/).slice(1)) {
      const traceId = /Trace ID\s*: (\w+)/.exec(span)?.[1];
      if (traceId) spans.push({ service, traceId, name: /Name\s*: (.*)/.exec(span)?.[1]?.trim() ?? '', text: span });
    }
  }
  return spans;
}

async function collectorLog(): Promise<string> {
  const pod = (await podOf(stack!.kc, MON_NS, 'otel-collector')).metadata!.name!;
  return containerLogs(stack!.kc, MON_NS, pod, 'otel-collector', 100_000);
}

describe('traces in a real OpenTelemetry Collector', { timeout: 180_000 }, () => {
  it("puts LiteLLM's span for a chat in the trace of the Open WebUI request that asked for it", async () => {
    const admin = {
      email: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_EMAIL'),
      password: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_PASSWORD'),
    };
    const model = configuredModels()[0]!;
    const { got, want } = await chatThroughOpenWebui(stack!.info.urls.openWebui, admin, 'one trace, please');
    expect(got).toEqual(want);
    const trace = await waitUntil(
      'a trace holding spans of both Open WebUI and LiteLLM for the chat',
      async () => {
        const spans = spansIn(await collectorLog());
        const chatTraces = new Set(spans.filter((x) => x.service === 'litellm' && x.text.includes(model.name)).map((x) => x.traceId));
        const id = [...chatTraces].find((t) => spans.some((x) => x.traceId === t && x.service === 'open-webui'));
        return id ? spans.filter((x) => x.traceId === id) : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    const byService = (svc: string) => trace.filter((x) => x.service === svc).map((x) => x.name);
    log(
      `trace ${trace[0]!.traceId}: open-webui ${JSON.stringify(byService('open-webui'))}; litellm ${JSON.stringify(byService('litellm'))}`,
    );
    expect(byService('open-webui').length).toBeGreaterThan(0);
    expect(byService('litellm').length).toBeGreaterThan(0);
  });

  it("receives Open WebUI's metrics", async () => {
    const metrics = await waitUntil(
      "Open WebUI's metrics in the collector",
      async () => {
        const resources = (await collectorLog()).split(/ResourceMetrics #\d+/).slice(1);
        const own = resources.filter((r) => /service\.name: Str\(open-webui\)/.test(r));
        return own.length ? own.join('\n') : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2_000 },
    );
    const names = [...new Set([...metrics.matchAll(/-> Name: (\S+)/g)].map((m) => m[1]))];
    log(`Open WebUI metrics: ${names.join(', ')}`);
    expect(names.length).toBeGreaterThan(0);
  });

  beforeAll(async () => {
    const probeImage = (await podOf(kc, devStack.namespace, 'fake-anthropic')).spec!.containers[0]!.image!;
    await createProbePod(kc, MON_NS, 'probe-otlp', probeImage, { run: 'probe' });
  }, 180_000);

  it('lets the apps reach the collector on OTLP gRPC only', async () => {
    const ip = (await podOf(stack!.kc, MON_NS, 'otel-collector')).status!.podIP!;
    const openWebui = (await podOf(stack!.kc, NS, 'open-webui')).metadata!.name!;
    const litellmPod = (await podOf(stack!.kc, NS, 'litellm')).metadata!.name!;
    // Positive controls: both apps reach 4317.
    expect(await canConnect(stack!.kc, NS, openWebui, 'open-webui', 'python', ip, 4317)).toBe(true);
    expect(await canConnect(stack!.kc, NS, litellmPod, 'litellm', 'python', ip, 4317)).toBe(true);
    // The collector's OTLP HTTP port listens (a pod no policy restricts reaches it), but is not opened to the apps.
    expect(await canConnect(kc, MON_NS, 'probe-otlp', 'probe', 'node', ip, 4318)).toBe(true);
    expect(await canConnect(stack!.kc, NS, openWebui, 'open-webui', 'python', ip, 4318)).toBe(false);
  });
});

// Last: it leaves LiteLLM crash-looping (the namespace goes with the test).
/** LiteLLM's container resources, as `kubectl patch` would set them. */
async function patchLiteLLM(resources: object): Promise<void> {
  await stack!.kc
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedDeployment(
      { name: 'litellm', namespace: NS, body: { spec: { template: { spec: { containers: [{ name: 'litellm', resources }] } } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
}

describe('the pod alerts (kube-state-metrics)', { timeout: 420_000 }, () => {
  it('take ChatStackOOMKilled and ChatStackPodRestarting to firing while LiteLLM is killed for memory at every start', async () => {
    const active = async () =>
      Object.fromEntries(
        (await prom.alerts())
          .filter((a) => a.labels['namespace'] === NS && a.labels['container'] === 'litellm')
          .map((a) => [a.labels['alertname']!, a.state]),
      );
    // Control: neither is active while LiteLLM runs within its limit.
    const before = await active();
    expect(before['ChatStackOOMKilled']).toBeUndefined();
    expect(before['ChatStackPodRestarting']).toBeUndefined();
    // 96 MiB: less than LiteLLM needs to import itself, so the kernel kills it at every start.
    await patchLiteLLM({ requests: { memory: '96Mi' }, limits: { memory: '96Mi' } });
    const seen: string[] = [];
    const t0 = Date.now();
    await waitUntil(
      'ChatStackOOMKilled and ChatStackPodRestarting firing',
      async () => {
        const a = await active();
        for (const [name, state] of Object.entries(a)) if (!seen.includes(`${name} ${state}`)) seen.push(`${name} ${state}`);
        return a['ChatStackOOMKilled'] === 'firing' && a['ChatStackPodRestarting'] === 'firing' ? true : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 2_000, describe: async () => JSON.stringify(await prom.alerts()) },
    );
    const restarts = await prom.value(`max(kube_pod_container_status_restarts_total${sel({ container: 'litellm' })})`);
    log(`pod alerts after ${((Date.now() - t0) / 1000).toFixed(0)} s, ${restarts} restarts: ${seen.join(' → ')}`);
    expect(seen).toContain('ChatStackOOMKilled pending');
    expect(seen).toContain('ChatStackPodRestarting pending');
    expect(
      await prom.value(`max(kube_pod_container_status_last_terminated_reason${sel({ container: 'litellm', reason: 'OOMKilled' })})`),
    ).toBe(1);
    // Back to the rendered resources. The crash-looping pod never became ready, so the old one
    // served throughout.
    type Deployment = KubeObject & { spec: { template: { spec: { containers: { name: string; resources: object }[] } } } };
    const resources = find<Deployment>('Deployment', 'litellm').spec.template.spec.containers.find((c) => c.name === 'litellm')!.resources;
    await patchLiteLLM(resources);
    await waitUntilRolledOut(stack!.kc, NS, { timeoutMs: 180_000 });
  });
});

// After the pod alerts: kube-state-metrics has a series of a container's last terminated reason
// only once one has terminated.
describe('the names the rules and the dashboard use', () => {
  it('are all in the live scrape (no alert or panel on a metric that does not exist)', async () => {
    const dashboard = JSON.parse(
      find<KubeObject & { data: Record<string, string> }>('ConfigMap', 'chat-stack-dashboard').data['chat-stack.json']!,
    ) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = [
      ...rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
      ...dashboard.panels.flatMap((p) =>
        p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr.replaceAll('$namespace', NS) })),
      ),
    ];
    const live = new Set(await prom.metricNames());
    const missing: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of exprs)
      for (const name of await prom.selectedMetrics(expr)) {
        used.add(name);
        if (!live.has(name)) missing.push(`${where}: ${name}`);
      }
    log(`${exprs.length} expressions parsed, ${used.size} metric names, LiteLLM's and kube-state-metrics'`);
    expect(missing).toEqual([]);
    // The pod alerts' names come from kube-state-metrics, scraped here as kube-prometheus-stack does.
    expect(used).toContain('kube_pod_container_status_restarts_total');
  });
});
