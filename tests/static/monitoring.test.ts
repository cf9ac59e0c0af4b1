// components/monitoring and components/tracing, rendered onto the dev overlay: what they switch on
// and who may reach what.
// Its objects against the Prometheus Operator's CRD schemas, the metrics port wired the same way
// in the Deployment, the PodMonitor and the NetworkPolicy, the policy's flows, and every alert
// with a severity and a runbook that exists. (The live proof is tests/integration/monitoring.test.ts.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Container } from '@kubernetes/client-node';
import { REPO_ROOT, type KubeObject } from '../../lib/kustomize.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { writeMonitoredDev, type PodMonitor, type PrometheusRule } from '../support/prometheus.ts';
import { allowed, policiesOf } from './netpol.ts';
import { validateObjects } from './schema.ts';
import { liteLLMConfig } from './litellm-config.ts';

const NS = 'chat';
const MON_NS = 'monitoring';
let ws: Workspace;
let objects: KubeObject[];

const find = <T extends KubeObject>(kind: string, name: string): T => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name} in the render`);
  return o as T;
};
const container = (app: string) =>
  (
    find('Deployment', app) as KubeObject & { spec: { template: { spec: { containers: V1Container[] } } } }
  ).spec.template.spec.containers.find((c) => c.name === app)!;
const litellmContainer = () => container('litellm');
const envOf = (app: string) => Object.fromEntries((container(app).env ?? []).map((e) => [e.name, e.value]));
const pod = (namespace: string, labels: Record<string, string>) => ({
  namespace,
  labels,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
  ip: '10.42.0.20',
});

beforeAll(async () => {
  ws = await createWorkspace();
  writeMonitoredDev(join(ws.root, 'monitored'), NS, MON_NS);
  objects = await ws.render(join(ws.root, 'monitored'));
}, 60_000);

afterAll(() => ws?.[Symbol.dispose]());

describe('components/monitoring', () => {
  it('renders objects valid against the Prometheus Operator CRDs and the Kubernetes schemas', () => {
    expect(validateObjects(objects)).toEqual([]);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining([
        'PodMonitor/litellm',
        'PrometheusRule/chat-stack',
        'NetworkPolicy/litellm-metrics',
        'ConfigMap/chat-stack-dashboard',
      ]),
    );
  });

  it("switches on LiteLLM's metrics (the observability.metrics callback of the base config), served on a port of their own", () => {
    expect([liteLLMConfig(objects).litellm_settings?.callbacks ?? []].flat()).toContain('observability.metrics');
    const c = litellmContainer();
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    const port = c.ports?.find((p) => p.name === 'metrics');
    expect(port?.containerPort).toBe(Number(env['PROMETHEUS_METRICS_PORT']));
    expect(c.ports?.find((p) => p.name === 'http')?.containerPort).not.toBe(port?.containerPort);
    // Set before the process starts, on a writable mount (the root is read-only).
    const dir = env['PROMETHEUS_MULTIPROC_DIR'] ?? '';
    expect(c.volumeMounts?.some((m) => dir.startsWith(`${m.mountPath}/`) && !m.readOnly)).toBe(true);
  });

  it('has the PodMonitor scrape the LiteLLM pods on that named port, with the release label the Prometheus selects', () => {
    const pm = find<PodMonitor>('PodMonitor', 'litellm');
    const podLabels = (
      find('Deployment', 'litellm') as KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } }
    ).spec.template.metadata.labels;
    expect(Object.entries(pm.spec.selector.matchLabels).every(([k, v]) => podLabels[k] === v)).toBe(true);
    expect(pm.spec.podMetricsEndpoints.map((e) => e.port)).toEqual(['metrics']);
    expect(pm.metadata.labels?.['release']).toBe('chat-stack-test');
    expect(find<PrometheusRule>('PrometheusRule', 'chat-stack').metadata.labels?.['release']).toBe('chat-stack-test');
  });

  it("lets only the monitoring namespace's Prometheus reach the metrics port, and it nothing else", () => {
    const policies = policiesOf(objects);
    const port = litellmContainer().ports!.find((p) => p.name === 'metrics')!.containerPort;
    const litellm = {
      namespace: NS,
      labels: { 'app.kubernetes.io/name': 'litellm' },
      namespaceLabels: { 'kubernetes.io/metadata.name': NS },
      ip: '10.42.0.10',
    };
    const scraper = pod(MON_NS, { 'app.kubernetes.io/name': 'prometheus' });
    expect(allowed(policies, scraper, litellm, port)).toBe(true);
    expect(allowed(policies, scraper, litellm, 4000)).toBe(false);
    expect(allowed(policies, pod(MON_NS, { 'app.kubernetes.io/name': 'grafana' }), litellm, port)).toBe(false);
    expect(allowed(policies, pod('elsewhere', { 'app.kubernetes.io/name': 'prometheus' }), litellm, port)).toBe(false);
    expect(allowed(policies, pod(NS, { 'app.kubernetes.io/name': 'open-webui' }), litellm, port)).toBe(false);
    // The API port stays Open WebUI's.
    expect(allowed(policies, pod(NS, { 'app.kubernetes.io/name': 'open-webui' }), litellm, 4000)).toBe(true);
  });

  it('gives every alert a severity, a summary, a description and a runbook that docs/observability.md has', () => {
    const docs = readFileSync(join(REPO_ROOT, 'docs/observability.md'), 'utf8');
    // GitHub's heading anchors: lower case, spaces to hyphens, punctuation dropped.
    const anchors = new Set(
      [...docs.matchAll(/^#+ (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^\w\s-]/g, '')
          .replace(/\s/g, '-'),
      ),
    );
    const problems: string[] = [];
    for (const r of find<PrometheusRule>('PrometheusRule', 'chat-stack').spec.groups.flatMap((g) => g.rules)) {
      if (!r.alert) continue;
      if (!['critical', 'warning'].includes(r.labels?.['severity'] ?? '')) problems.push(`${r.alert}: severity`);
      for (const a of ['summary', 'description', 'runbook']) if (!r.annotations?.[a]) problems.push(`${r.alert}: no ${a}`);
      const runbook = r.annotations?.['runbook'] ?? '';
      if (runbook !== `docs/observability.md#${r.alert.toLowerCase()}` || !anchors.has(r.alert.toLowerCase()))
        problems.push(`${r.alert}: runbook ${runbook}`);
    }
    expect(problems).toEqual([]);
  });

  it('ships a dashboard whose every panel queries Prometheus through the chosen data source', () => {
    const cm = find<KubeObject & { data: Record<string, string> }>('ConfigMap', 'chat-stack-dashboard');
    expect(cm.metadata.labels?.['grafana_dashboard']).toBe('1');
    const d = JSON.parse(cm.data['chat-stack.json']!) as {
      uid: string;
      panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
    };
    expect(d.uid).toBe('chat-stack');
    expect(d.panels.length).toBeGreaterThan(5);
    for (const p of d.panels) {
      expect(p.datasource.uid, p.title).toBe('${datasource}');
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr, p.title).toContain('namespace="$namespace"');
    }
  });
});

describe('components/tracing', () => {
  it("points both apps at the collector by OTLP gRPC, and LiteLLM's traces callback at the same", () => {
    const endpoint = `http://otel-collector.${MON_NS}.svc.cluster.local:4317`;
    expect(envOf('open-webui')).toMatchObject({
      ENABLE_OTEL: 'true',
      ENABLE_OTEL_TRACES: 'true',
      ENABLE_OTEL_METRICS: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_OTLP_SPAN_EXPORTER: 'grpc',
      OTEL_SERVICE_NAME: 'open-webui',
    });
    expect(envOf('litellm')).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER: 'otlp_grpc',
      OTEL_SERVICE_NAME: 'litellm',
    });
    // The callback that turns into LiteLLM's OpenTelemetry integration when the endpoint is set.
    expect([liteLLMConfig(objects).litellm_settings?.callbacks ?? []].flat()).toContain('observability.traces');
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('litellm-config')) as KubeObject & {
      data: Record<string, string>;
    };
    expect(cm.data['observability.py']).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(cm.data['observability.py']).toMatch(/PROMETHEUS_METRICS_PORT/);
  });

  it("lets the apps reach the collector's OTLP gRPC port, and nothing else there", () => {
    const policies = policiesOf(objects);
    const collector = pod(MON_NS, { 'app.kubernetes.io/name': 'otel-collector' });
    for (const app of ['open-webui', 'litellm']) {
      const from = pod(NS, { 'app.kubernetes.io/name': app });
      expect(allowed(policies, from, collector, 4317), app).toBe(true);
      expect(allowed(policies, from, collector, 4318), app).toBe(false);
      expect(allowed(policies, from, pod(MON_NS, { 'app.kubernetes.io/name': 'prometheus' }), 4317), app).toBe(false);
    }
    expect(allowed(policies, pod(NS, { 'app.kubernetes.io/name': 'fake-anthropic' }), collector, 4317)).toBe(false);
  });
});
