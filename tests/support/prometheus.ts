// A real Prometheus as the test's scraper (and a real OpenTelemetry Collector as the traces'
// receiver), without the Prometheus Operator (it does not build from
// the Go module proxy): what the operator would generate from the monitoring component's
// PodMonitor and PrometheusRule, generated here, and Prometheus's HTTP API to read back what it
// scraped and how its alerts stand.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeObject } from '../../lib/kustomize.ts';

export interface PodMonitor extends KubeObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: { port: string; path?: string; interval?: string }[];
  };
}
export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface PrometheusRule extends KubeObject {
  spec: { groups: { name: string; interval?: string; rules: Rule[] }[] };
}

/**
 * A kustomization in `dir` (a directory of a test workspace, beside its `manifests/`): the dev
 * overlay's local instance with components/monitoring and components/tracing, in `namespace`,
 * scraped from `monitoringNamespace`, sending traces to the collector there.
 */
export function writeMonitoredDev(dir: string, namespace: string, monitoringNamespace: string): void {
  mkdirSync(dir, { recursive: true });
  const params = (name: string, data: Record<string, string>) =>
    stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, annotations: { 'config.kubernetes.io/local-config': 'true' } },
      data,
    });
  writeFileSync(
    join(dir, 'parameters.yaml'),
    [
      params('monitoring', { prometheusNamespace: monitoringNamespace, prometheusName: 'prometheus', release: 'chat-stack-test' }),
      params('tracing', {
        endpoint: `http://otel-collector.${monitoringNamespace}.svc.cluster.local:4317`,
        collectorNamespace: monitoringNamespace,
        collectorName: 'otel-collector',
      }),
    ].join('---\n'),
  );
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace,
      resources: ['../manifests/local/dev', 'parameters.yaml'],
      components: ['../manifests/components/monitoring', '../manifests/components/tracing'],
    }),
  );
}

const metaLabel = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The scrape jobs the Prometheus Operator makes of a PodMonitor (pkg/prometheus/promcfg.go): pods
 * of the monitor's namespace matching its selector, on the named container port, labelled with
 * namespace, pod, container, endpoint and job `<namespace>/<name>`. `interval` overrides the
 * monitor's own (a test cannot wait 30 s per sample).
 */
export function scrapeConfigsFor(pm: PodMonitor, interval?: string): Record<string, unknown>[] {
  const ns = pm.metadata.namespace!;
  return pm.spec.podMetricsEndpoints.map((ep, i) => ({
    job_name: `podMonitor/${ns}/${pm.metadata.name}/${i}`,
    honor_labels: false,
    kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [ns] } }],
    scrape_interval: interval ?? ep.interval ?? '30s',
    metrics_path: ep.path ?? '/metrics',
    relabel_configs: [
      // Running pods only, as the operator's config does.
      { source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)', action: 'drop' },
      ...Object.entries(pm.spec.selector.matchLabels).map(([k, v]) => ({
        source_labels: [`__meta_kubernetes_pod_label_${metaLabel(k)}`, `__meta_kubernetes_pod_labelpresent_${metaLabel(k)}`],
        regex: `(${v});true`,
        action: 'keep',
      })),
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: ep.port, action: 'keep' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { target_label: 'job', replacement: `${ns}/${pm.metadata.name}` },
      { target_label: 'endpoint', replacement: ep.port },
    ],
  }));
}

/**
 * The rule file Prometheus loads for a PrometheusRule (its spec.groups as they are). `forOverride`
 * replaces every alert's `for` (a test cannot hold a fault for 5 minutes; promtool's unit tests
 * check the real durations).
 */
export function ruleFileFor(rule: PrometheusRule, forOverride?: string): { groups: PrometheusRule['spec']['groups'] } {
  return {
    groups: rule.spec.groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) => (r.alert && forOverride ? { ...r, for: forOverride } : r)),
    })),
  };
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
export interface ActiveAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}
export interface LoadedRule {
  name: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  state?: string;
  query: string;
}

/** Prometheus's HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/). */
export class PrometheusApi {
  readonly baseUrl: string;
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  private async get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const url = `${this.baseUrl}/api/v1/${path}?${new URLSearchParams(params)}`;
    const res = await fetch(url);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`GET ${path} ${JSON.stringify(params)}: ${res.status} ${body.errorType}: ${body.error}`);
    return body.data;
  }

  async query(expr: string): Promise<Sample[]> {
    const data = await this.get<{ resultType: string; result: Sample[] }>('query', { query: expr });
    if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not an instant vector`);
    return data.result;
  }

  /** The one value of `expr` (0 when it has no sample: a counter that never moved has no series). */
  async value(expr: string): Promise<number> {
    const r = await this.query(expr);
    if (r.length > 1) throw new Error(`${expr}: ${r.length} series, expected one (aggregate it)`);
    return r.length ? Number(r[0]!.value[1]) : 0;
  }

  async targets(): Promise<
    { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string; lastScrapeDuration: number }[]
  > {
    return (await this.get<{ activeTargets: never[] }>('targets', { state: 'active' })).activeTargets;
  }

  async alerts(): Promise<ActiveAlert[]> {
    return (await this.get<{ alerts: ActiveAlert[] }>('alerts')).alerts;
  }

  async rules(): Promise<LoadedRule[]> {
    const data = await this.get<{ groups: { rules: LoadedRule[] }[] }>('rules');
    return data.groups.flatMap((g) => g.rules);
  }

  /** Every metric name Prometheus holds. */
  async metricNames(): Promise<string[]> {
    return this.get<string[]>('label/__name__/values');
  }

  /** The metric names a PromQL expression selects, from Prometheus's own parser (an error if it does not parse). */
  async selectedMetrics(expr: string): Promise<string[]> {
    const names = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if ((n['type'] === 'vectorSelector' || n['type'] === 'matrixSelector') && typeof n['name'] === 'string' && n['name'])
        names.add(n['name']);
      Object.values(n).forEach(walk);
    };
    walk(await this.get<unknown>('parse_query', { query: expr }));
    return [...names].sort();
  }
}
