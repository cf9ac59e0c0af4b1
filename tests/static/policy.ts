// The security and shape policy every rendered overlay must meet. Each check returns one
// message per violation (empty = pass), so a test can show both that the real overlays pass
// and that a deliberately broken fixture is caught by exactly the check meant for it.
import type { V1Container, V1EnvVar, V1PodSpec } from '@kubernetes/client-node';
import type { KubeObject } from '../../lib/kustomize.ts';
import { allowed, policiesOf, selects, type Endpoint } from './netpol.ts';

// client-node's types for what the rendered YAML holds (its field names are the API's).
export type Container = V1Container;
export type PodSpec = V1PodSpec;
type EnvVar = V1EnvVar;
export interface Workload {
  object: KubeObject;
  id: string;
  namespace: string;
  labels: Record<string, string>;
  spec: PodSpec;
}

export interface PolicyContext {
  /** false for OpenShift, where the SCC assigns the UID and fixed ones must be absent. */
  fixedIds: boolean;
}

const POD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];

export function workloads(objects: KubeObject[]): Workload[] {
  const out: Workload[] = [];
  for (const o of objects) {
    let template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } | undefined;
    if (o.kind === 'Pod') template = { metadata: o.metadata, spec: o['spec'] as PodSpec };
    else if (POD_KINDS.includes(o.kind)) template = (o['spec'] as { template: typeof template }).template;
    else if (o.kind === 'CronJob')
      template = (o['spec'] as { jobTemplate: { spec: { template: typeof template } } }).jobTemplate.spec.template;
    if (!template) continue;
    out.push({
      object: o,
      id: `${o.kind}/${o.metadata.name}`,
      namespace: o.metadata.namespace ?? '',
      labels: template.metadata?.labels ?? {},
      spec: template.spec,
    });
  }
  return out;
}

function allContainers(w: Workload): { c: Container; where: string }[] {
  return [
    ...(w.spec.initContainers ?? []).map((c) => ({ c, where: `${w.id} initContainer ${c.name}` })),
    ...w.spec.containers.map((c) => ({ c, where: `${w.id} container ${c.name}` })),
  ];
}

const ALLOWED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** Pod Security Standard "restricted" (which includes "baseline"), plus fixed non-root ids. */
export function checkRestricted(objects: KubeObject[], ctx: PolicyContext): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.spec.securityContext ?? {};
    if (w.spec.hostNetwork || w.spec.hostPID || w.spec.hostIPC) v.push(`${w.id}: shares a host namespace`);
    for (const vol of w.spec.volumes ?? []) {
      const type = Object.keys(vol).find((k) => k !== 'name');
      if (!type || !ALLOWED_VOLUMES.includes(type)) v.push(`${w.id}: volume ${String(vol['name'])} of type ${type} is not allowed`);
    }
    if (ctx.fixedIds) {
      for (const f of ['runAsUser', 'runAsGroup'] as const) {
        if (!(typeof pod[f] === 'number' && pod[f] > 0)) v.push(`${w.id}: pod securityContext.${f} must be a fixed non-zero id`);
      }
    } else {
      for (const f of ['runAsUser', 'runAsGroup', 'fsGroup'] as const) {
        if (pod[f] !== undefined) v.push(`${w.id}: pod securityContext.${f} must be left to the SCC`);
      }
    }
    for (const { c, where } of allContainers(w)) {
      const sc = c.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
      if (nonRoot !== true) v.push(`${where}: runAsNonRoot must be true`);
      const uid = sc.runAsUser ?? pod.runAsUser;
      if (uid === 0) v.push(`${where}: runs as UID 0`);
      const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${where}: seccompProfile must be RuntimeDefault or Localhost`);
      if (sc.allowPrivilegeEscalation !== false) v.push(`${where}: allowPrivilegeEscalation must be false`);
      if (sc.privileged === true) v.push(`${where}: is privileged`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${where}: capabilities must drop ALL`);
      const added = (sc.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
      if (added.length > 0) v.push(`${where}: adds capabilities ${added.join(', ')}`);
      if ((c.ports ?? []).some((p) => p.hostPort)) v.push(`${where}: uses a hostPort`);
    }
  }
  return v;
}

export function checkReadOnlyRoot(objects: KubeObject[]): string[] {
  return workloads(objects).flatMap((w) =>
    allContainers(w)
      .filter(({ c }) => c.securityContext?.readOnlyRootFilesystem !== true)
      .map(({ where }) => `${where}: readOnlyRootFilesystem must be true`),
  );
}

export function checkPodHardening(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    if (w.spec.automountServiceAccountToken !== false) v.push(`${w.id}: automountServiceAccountToken must be false`);
    if (w.spec.enableServiceLinks !== false) v.push(`${w.id}: enableServiceLinks must be false`);
  }
  return v;
}

const MUTABLE_TAGS = /^(latest|main|main-latest|main-stable|stable|dev|nightly|edge|master|lts|slim|cuda|ollama|main-slim)$/;

/** An exact release tag (with a digit in it) or a digest; never a moving tag. */
export function checkPinnedImages(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    for (const { c, where } of allContainers(w)) {
      const image = c.image ?? '';
      if (/@sha256:[0-9a-f]{64}$/.test(image)) continue;
      const m = /^(.+?)(?::([^:/]+))?$/.exec(image);
      const tag = m?.[2];
      if (!tag) v.push(`${where}: image "${image}" has no tag (defaults to latest)`);
      else if (MUTABLE_TAGS.test(tag) || !/\d/.test(tag)) v.push(`${where}: image "${image}" uses the mutable tag "${tag}"`);
    }
  }
  return v;
}

/** startup, liveness and readiness probes on every container; never LiteLLM's /health. */
export function checkProbes(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    for (const c of w.spec.containers) {
      const where = `${w.id} container ${c.name}`;
      for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        if (!c[p]) v.push(`${where}: no ${p}`);
        else if (/litellm/.test(c.image ?? '') && c[p]?.httpGet?.path === '/health') {
          v.push(`${where}: ${p} uses /health, which needs the master key and calls every model`);
        }
      }
      // Alive and ready are different questions: the same check for both restarts a pod that is
      // only busy or waiting for a dependency.
      if (c.livenessProbe && c.readinessProbe) {
        const { httpGet: lh, exec: le, tcpSocket: lt } = c.livenessProbe;
        const { httpGet: rh, exec: re, tcpSocket: rt } = c.readinessProbe;
        if (JSON.stringify([lh, le, lt]) === JSON.stringify([rh, re, rt]))
          v.push(`${where}: livenessProbe and readinessProbe run the same check`);
      }
    }
  }
  return v;
}

/** Requests and limits for cpu, memory and ephemeral storage; every emptyDir has a sizeLimit. */
export function checkResources(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    for (const { c, where } of allContainers(w)) {
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
          if (!c.resources?.[kind]?.[r]) v.push(`${where}: no ${kind}.${r}`);
        }
      }
    }
    for (const vol of w.spec.volumes ?? []) {
      const dir = vol['emptyDir'] as { sizeLimit?: string } | undefined;
      if (dir && !dir.sizeLimit) v.push(`${w.id}: emptyDir ${String(vol['name'])} has no sizeLimit`);
    }
  }
  return v;
}

/** The HorizontalPodAutoscaler targeting a workload, if any. */
export function autoscalerOf(objects: KubeObject[], w: Workload): { minReplicas?: number; maxReplicas: number } | undefined {
  const hpa = objects.find((o) => {
    const ref = (o['spec'] as { scaleTargetRef?: { kind?: string; name?: string } } | undefined)?.scaleTargetRef;
    return o.kind === 'HorizontalPodAutoscaler' && ref?.kind === w.object.kind && ref.name === w.object.metadata.name;
  });
  return hpa?.['spec'] as { minReplicas?: number; maxReplicas: number } | undefined;
}

/** The most pods a workload runs at once in steady state: its HPA's maximum, else its replicas. */
export function maxReplicas(objects: KubeObject[], w: Workload): number {
  return autoscalerOf(objects, w)?.maxReplicas ?? (w.object['spec'] as { replicas?: number }).replicas ?? 1;
}

/** An autoscaled workload leaves `replicas` to its HPA: a pinned count resets a scaled-out one on every apply. */
export function checkAutoscaledReplicas(objects: KubeObject[]): string[] {
  return workloads(objects)
    .filter((w) => autoscalerOf(objects, w) && (w.object['spec'] as { replicas?: number }).replicas !== undefined)
    .map((w) => `${w.id}: sets spec.replicas although HorizontalPodAutoscaler/${w.object.metadata.name} owns it`);
}

/** Every workload runs with UID, GID and fsGroup at or above 10000, clear of ordinary host accounts (the datastores too). */
export const MIN_APP_ID = 10000;

export function checkHighIds(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.spec.securityContext ?? {};
    for (const { c, where } of allContainers(w)) {
      for (const f of ['runAsUser', 'runAsGroup'] as const) {
        const id = c.securityContext?.[f] ?? pod[f];
        if (id === undefined) continue; // left to the platform (OpenShift's SCC)
        if (id < MIN_APP_ID) v.push(`${where}: ${f} ${id} (use ${MIN_APP_ID} or above)`);
      }
    }
    const fsGroup = pod.fsGroup;
    if (fsGroup !== undefined && fsGroup < MIN_APP_ID) v.push(`${w.id}: fsGroup ${fsGroup} (use ${MIN_APP_ID} or above)`);
  }
  return v;
}

const SECRET_NAME = /(KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL|DB_URL|REDIS_URL)$/i;

/** Secret-looking env vars come from Secrets, never as literal values in a manifest. */
/**
 * Generated without a hash suffix on purpose: the in-cluster datastores' own credentials, which a
 * rotation changes at run time, so their pods must not roll with the Secret (the overlays
 * themselves hold no Secret at all: secrets-contract.test.ts).
 */
export const UNHASHED_GENERATED_SECRETS = ['datastore-servers'];

export function checkNoLiteralSecrets(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    for (const { c, where } of allContainers(w)) {
      for (const e of c.env ?? []) {
        if (SECRET_NAME.test(e.name) && e.value !== undefined) v.push(`${where}: ${e.name} is a literal value, not a secretKeyRef`);
      }
    }
  }
  for (const o of objects) {
    if (o.kind === 'Secret' && !/-[a-z0-9]{10}$/.test(o.metadata.name) && !UNHASHED_GENERATED_SECRETS.includes(o.metadata.name)) {
      v.push(`Secret/${o.metadata.name}: not made by a secretGenerator (committed Secret manifest?)`);
    }
  }
  return v;
}

function env(c: Container, name: string): EnvVar | undefined {
  return c.env?.find((e) => e.name === name);
}

function openWebUi(objects: KubeObject[]): { w: Workload; c: Container }[] {
  return workloads(objects).flatMap((w) => w.spec.containers.filter((c) => /open-webui/.test(c.image ?? '')).map((c) => ({ w, c })));
}

/** Auth stays on, sign-up off, a stable signing key from a Secret. */
export function checkAuth(objects: KubeObject[]): string[] {
  const v: string[] = [];
  const found = openWebUi(objects);
  if (found.length === 0) v.push('no Open WebUI container found');
  for (const { w, c } of found) {
    if (!/^true$/i.test(env(c, 'WEBUI_AUTH')?.value ?? '')) v.push(`${w.id}: WEBUI_AUTH must be "True"`);
    if (!/^false$/i.test(env(c, 'ENABLE_SIGNUP')?.value ?? '')) v.push(`${w.id}: ENABLE_SIGNUP must be "False"`);
    if (!env(c, 'WEBUI_SECRET_KEY')?.valueFrom?.secretKeyRef) v.push(`${w.id}: WEBUI_SECRET_KEY must come from a Secret`);
  }
  return v;
}

/**
 * Settings whose default differs between upstream's images and the hermetic ones this project
 * builds (Open WebUI's full vs slim build, LiteLLM's non-root layouts), which the stack depends
 * on: every container sets them itself, so the manifests behave the same on either image.
 */
export const PINNED_SETTINGS: Record<string, string[]> = {
  'open-webui': [
    'VECTOR_DB',
    'RAG_EMBEDDING_ENGINE',
    'RAG_EMBEDDING_MODEL',
    'BYPASS_EMBEDDING_AND_RETRIEVAL',
    'OFFLINE_MODE',
    'DATA_DIR',
    'HOME',
  ],
  litellm: ['HOME', 'XDG_CACHE_HOME'],
};

/** The image-dependent settings are pinned; several Open WebUI replicas never share embedded Chroma. */
export function checkImageDefaults(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const w of workloads(objects)) {
    const scaled = maxReplicas(objects, w) > 1;
    for (const c of w.spec.containers) {
      const app = Object.keys(PINNED_SETTINGS).find((name) => new RegExp(`/${name}[^/]*:`).test(c.image ?? ''));
      if (!app) continue;
      for (const name of PINNED_SETTINGS[app]!)
        if (!env(c, name)) v.push(`${w.id} container ${c.name}: ${name} is not set (its default depends on the image)`);
      const vectorDb = env(c, 'VECTOR_DB')?.value;
      if (app === 'open-webui' && scaled && vectorDb === 'chroma')
        v.push(`${w.id}: VECTOR_DB=chroma (embedded, one writer) with several replicas; use pgvector`);
    }
  }
  return v;
}

/** One writer for SQLite: a single replica must not roll two pods; replicas need Postgres + Redis. */
export function checkOpenWebUiScaling(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const { w, c } of openWebUi(objects)) {
    const spec = w.object['spec'] as { strategy?: { type?: string } };
    const replicas = maxReplicas(objects, w);
    const hasDb = env(c, 'DATABASE_URL') !== undefined;
    if (!hasDb && spec.strategy?.type !== 'Recreate') v.push(`${w.id}: SQLite on a RWO volume needs strategy Recreate`);
    if (replicas > 1 && !(hasDb && env(c, 'REDIS_URL') && env(c, 'WEBSOCKET_MANAGER')?.value === 'redis')) {
      v.push(`${w.id}: ${replicas} replicas need DATABASE_URL, REDIS_URL and WEBSOCKET_MANAGER=redis`);
    }
  }
  return v;
}

/**
 * The Postgres connection budget: Postgres's default max_connections (100) minus the 3 kept for
 * superusers, less headroom for what connects besides the replicas' pools (each starting replica's
 * lock and migration connections, a backup's pg_dump, a restore, an operator's psql).
 */
export const POSTGRES_CONNECTIONS = { maxConnections: 100, superuserReserved: 3, headroom: 12 } as const;

/**
 * Open WebUI's most Postgres connections: per replica, the sync and async engines (each
 * DATABASE_POOL_SIZE + DATABASE_POOL_MAX_OVERFLOW) and the pgvector engine (PGVECTOR_POOL_*),
 * times the most pods at once (the HPA's maximum plus the rollout's surge). Unset pools are
 * SQLAlchemy's default, 5 + 10 each: flagged, since the sum is then out of the manifests' hands.
 */
export function connectionBudget(objects: KubeObject[]): {
  perReplica: number;
  pods: number;
  total: number;
  limit: number;
  violations: string[];
} {
  const limit = POSTGRES_CONNECTIONS.maxConnections - POSTGRES_CONNECTIONS.superuserReserved - POSTGRES_CONNECTIONS.headroom;
  const violations: string[] = [];
  let perReplica = 0;
  let pods = 0;
  for (const { w, c } of openWebUi(objects)) {
    if (!env(c, 'DATABASE_URL')) continue; // SQLite
    const int = (name: string): number => {
      const value = env(c, name)?.value;
      if (value === undefined || !/^\d+$/.test(value)) {
        violations.push(`${w.id}: ${name} must be set to a number (the pool is otherwise SQLAlchemy's 5 + 10)`);
        return name.endsWith('OVERFLOW') ? 10 : 5;
      }
      return Number(value);
    };
    const engines = 2 * (int('DATABASE_POOL_SIZE') + int('DATABASE_POOL_MAX_OVERFLOW'));
    const vectors = env(c, 'VECTOR_DB')?.value === 'pgvector' ? int('PGVECTOR_POOL_SIZE') + int('PGVECTOR_POOL_MAX_OVERFLOW') : 0;
    perReplica = engines + vectors;
    const surge = (w.object['spec'] as { strategy?: { rollingUpdate?: { maxSurge?: number | string } } }).strategy?.rollingUpdate?.maxSurge;
    pods =
      maxReplicas(objects, w) +
      (typeof surge === 'number' ? surge : surge ? Math.ceil((maxReplicas(objects, w) * parseInt(surge, 10)) / 100) : 0);
    if (perReplica * pods > limit)
      violations.push(
        `${w.id}: ${pods} pods x ${perReplica} connections = ${perReplica * pods}, over the budget of ${limit} (Postgres max_connections ${POSTGRES_CONNECTIONS.maxConnections} - ${POSTGRES_CONNECTIONS.superuserReserved} reserved - ${POSTGRES_CONNECTIONS.headroom} headroom)`,
      );
  }
  return { perReplica, pods, total: perReplica * pods, limit, violations };
}

export const checkConnectionBudget = (objects: KubeObject[]): string[] => connectionBudget(objects).violations;

/** Open WebUI cannot be served under a sub-path: host-only routing, no rewrites. */
export function checkIngress(objects: KubeObject[]): string[] {
  const v: string[] = [];
  for (const o of objects) {
    if (o.kind === 'Ingress') {
      for (const a of Object.keys(o.metadata.annotations ?? {})) {
        if (/rewrite-target|app-root|configuration-snippet/.test(a)) v.push(`Ingress/${o.metadata.name}: annotation ${a} rewrites paths`);
      }
      const rules = (o['spec'] as { rules?: { http?: { paths?: { path?: string }[] } }[] }).rules ?? [];
      for (const r of rules)
        for (const p of r.http?.paths ?? []) {
          if ((p.path ?? '/') !== '/') v.push(`Ingress/${o.metadata.name}: path ${p.path} (Open WebUI must be served at /)`);
        }
    }
    if (o.kind === 'HTTPRoute' && o.metadata.name === 'open-webui') {
      const rules =
        (o['spec'] as { rules?: { matches?: { path?: { type?: string; value?: string } }[]; filters?: { type: string }[] }[] }).rules ?? [];
      for (const r of rules) {
        for (const m of r.matches ?? [])
          if ((m.path?.value ?? '/') !== '/')
            v.push(`HTTPRoute/${o.metadata.name}: path ${m.path?.value} (Open WebUI must be served at /)`);
        for (const f of r.filters ?? [])
          if (f.type === 'URLRewrite') v.push(`HTTPRoute/${o.metadata.name}: filter URLRewrite rewrites paths`);
      }
    }
    if (o.kind === 'Route') {
      const path = (o['spec'] as { path?: string }).path;
      if (path && path !== '/') v.push(`Route/${o.metadata.name}: path ${path} (Open WebUI must be served at /)`);
    }
  }
  return v;
}

/** The namespace exists in the render, enforces "restricted", and holds every object. */
export function checkPodSecurityAdmission(objects: KubeObject[]): string[] {
  const v: string[] = [];
  const namespaces = objects.filter((o) => o.kind === 'Namespace');
  if (namespaces.length !== 1) return [`expected exactly one Namespace, found ${namespaces.length}`];
  const ns = namespaces[0]!;
  for (const mode of ['enforce', 'audit', 'warn']) {
    if (ns.metadata.labels?.[`pod-security.kubernetes.io/${mode}`] !== 'restricted') {
      v.push(`Namespace/${ns.metadata.name}: pod-security.kubernetes.io/${mode} must be restricted`);
    }
  }
  for (const o of objects) {
    if (o.kind !== 'Namespace' && o.metadata.namespace !== ns.metadata.name) {
      v.push(`${o.kind}/${o.metadata.name}: is in namespace "${o.metadata.namespace ?? ''}", not ${ns.metadata.name}`);
    }
  }
  return v;
}

// ---- NetworkPolicy ----------------------------------------------------------------------

const POD_CIDR_IP = (n: number) => `10.42.0.${n}`; // k3s's default cluster CIDR
export const PUBLIC_IP = '160.79.104.10'; // a public address standing for the Anthropic API
export const KUBE_API_IP = '10.43.0.1'; // the kubernetes Service (default service CIDR)

export interface Flow {
  name: string;
  from: string;
  to: string;
  port: number;
  protocol?: string;
  expect: 'allow' | 'deny';
}

/** Where an overlay's cluster keeps the things its policies point at. */
export interface ClusterShape {
  /** The way-in proxy's pods (the Gateway's data plane, an ingress controller, the router). */
  proxy: { namespace: string; namespaceLabels: Record<string, string>; labels: Record<string, string> };
  dnsNamespace: string;
  dnsLabels: Record<string, string>;
}

const K8S_DNS = { dnsNamespace: 'kube-system', dnsLabels: { 'k8s-app': 'kube-dns' } };

/** k3s: Traefik in kube-system (local-cluster's Gateway runs on it); dev has no way in at all. */
export const K3S_CLUSTER: ClusterShape = {
  proxy: {
    namespace: 'kube-system',
    namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
    labels: { 'app.kubernetes.io/name': 'traefik' },
  },
  ...K8S_DNS,
};

/** The production overlays' example platform: a shared Gateway whose proxy runs in gateway-system. */
export const PLATFORM_CLUSTER: ClusterShape = {
  proxy: {
    namespace: 'gateway-system',
    namespaceLabels: { 'kubernetes.io/metadata.name': 'gateway-system' },
    labels: { 'app.kubernetes.io/name': 'traefik' },
  },
  ...K8S_DNS,
};

export const OPENSHIFT_CLUSTER: ClusterShape = {
  proxy: {
    namespace: 'openshift-ingress',
    namespaceLabels: { 'kubernetes.io/metadata.name': 'openshift-ingress', 'network.openshift.io/policy-group': 'ingress' },
    labels: { 'ingresscontroller.operator.openshift.io/deployment-ingresscontroller': 'default' },
  },
  dnsNamespace: 'openshift-dns',
  dnsLabels: { 'dns.operator.openshift.io/daemonset-dns': 'default' },
};

/** Endpoints by role; pods get the labels of the rendered workloads that carry the role. */
export function endpoints(objects: KubeObject[], cluster: ClusterShape): Record<string, Endpoint> {
  const ns = objects.find((o) => o.kind === 'Namespace')?.metadata.name ?? 'default';
  const nsLabels = { 'kubernetes.io/metadata.name': ns };
  const eps: Record<string, Endpoint> = {
    dns: {
      namespace: cluster.dnsNamespace,
      namespaceLabels: { 'kubernetes.io/metadata.name': cluster.dnsNamespace },
      labels: cluster.dnsLabels,
      ip: '10.42.0.2',
    },
    proxy: { ...cluster.proxy, ip: '10.42.0.3' },
    // the proxy's labels in its namespace, but another pod: only the proxy's own pods may come in
    'proxy-namespace-pod': {
      namespace: cluster.proxy.namespace,
      namespaceLabels: cluster.proxy.namespaceLabels,
      labels: { run: 'probe' },
      ip: '10.42.0.6',
    },
    'proxy-labelled-elsewhere': {
      namespace: 'elsewhere',
      namespaceLabels: { 'kubernetes.io/metadata.name': 'elsewhere' },
      labels: cluster.proxy.labels,
      ip: '10.42.0.7',
    },
    'other-namespace-pod': {
      namespace: 'elsewhere',
      namespaceLabels: { 'kubernetes.io/metadata.name': 'elsewhere' },
      labels: { 'app.kubernetes.io/name': 'open-webui' },
      ip: '10.42.0.4',
    },
    'unlabelled-pod': { namespace: ns, namespaceLabels: nsLabels, labels: { run: 'probe' }, ip: '10.42.0.5' },
    'anthropic-api': { ip: PUBLIC_IP },
    'kubernetes-api': { ip: KUBE_API_IP },
    'cloud-metadata': { ip: '169.254.169.254' },
    'private-datastore': { ip: '10.20.0.5' },
  };
  let n = 10;
  for (const w of workloads(objects)) {
    const role = w.labels['app.kubernetes.io/name'];
    if (role) eps[role] = { namespace: w.namespace, namespaceLabels: nsLabels, labels: w.labels, ip: POD_CIDR_IP(n++) };
  }
  return eps;
}

/** The flows every overlay must allow and deny; the NetworkPolicy matrix of docs/security.md. */
export const BASE_FLOWS: Flow[] = [
  { name: 'Open WebUI reaches LiteLLM', from: 'open-webui', to: 'litellm', port: 4000, expect: 'allow' },
  { name: 'the way-in proxy reaches Open WebUI', from: 'proxy', to: 'open-webui', port: 8080, expect: 'allow' },
  {
    name: "a pod with the proxy's labels in another namespace cannot reach Open WebUI",
    from: 'proxy-labelled-elsewhere',
    to: 'open-webui',
    port: 8080,
    expect: 'deny',
  },
  { name: 'LiteLLM reaches the Anthropic API over HTTPS', from: 'litellm', to: 'anthropic-api', port: 443, expect: 'allow' },
  { name: 'Open WebUI resolves names', from: 'open-webui', to: 'dns', port: 53, protocol: 'UDP', expect: 'allow' },
  { name: 'LiteLLM resolves names', from: 'litellm', to: 'dns', port: 53, protocol: 'UDP', expect: 'allow' },
  { name: 'an unlabelled pod cannot reach LiteLLM', from: 'unlabelled-pod', to: 'litellm', port: 4000, expect: 'deny' },
  { name: 'an unlabelled pod cannot reach Open WebUI', from: 'unlabelled-pod', to: 'open-webui', port: 8080, expect: 'deny' },
  { name: 'a pod of another namespace cannot reach Open WebUI', from: 'other-namespace-pod', to: 'open-webui', port: 8080, expect: 'deny' },
  { name: 'a pod of another namespace cannot reach LiteLLM', from: 'other-namespace-pod', to: 'litellm', port: 4000, expect: 'deny' },
  { name: 'Open WebUI cannot reach the internet', from: 'open-webui', to: 'anthropic-api', port: 443, expect: 'deny' },
  { name: 'LiteLLM cannot reach Open WebUI', from: 'litellm', to: 'open-webui', port: 8080, expect: 'deny' },
  { name: 'LiteLLM cannot reach plain HTTP', from: 'litellm', to: 'anthropic-api', port: 80, expect: 'deny' },
  { name: 'LiteLLM cannot reach the Kubernetes API', from: 'litellm', to: 'kubernetes-api', port: 443, expect: 'deny' },
  { name: 'Open WebUI cannot reach the Kubernetes API', from: 'open-webui', to: 'kubernetes-api', port: 443, expect: 'deny' },
  { name: 'LiteLLM cannot reach cloud metadata', from: 'litellm', to: 'cloud-metadata', port: 80, expect: 'deny' },
  { name: 'Open WebUI cannot reach pods of another namespace', from: 'open-webui', to: 'other-namespace-pod', port: 8080, expect: 'deny' },
];

/** The flows where another pod of the proxy's namespace is kept out too (the Gateway API overlays select the proxy's pods). */
export const PROXY_PODS_ONLY: Flow[] = [
  {
    name: "another pod of the proxy's namespace cannot reach Open WebUI",
    from: 'proxy-namespace-pod',
    to: 'open-webui',
    port: 8080,
    expect: 'deny',
  },
];

/** Extra flows of the dev overlay, whose "internet" is the fake upstream, reached by port-forwards only. */
export const DEV_FLOWS: Flow[] = [
  {
    name: 'nothing on the pod network reaches Open WebUI (dev has no way in)',
    from: 'proxy',
    to: 'open-webui',
    port: 8080,
    expect: 'deny',
  },
  { name: 'LiteLLM reaches the fake upstream', from: 'litellm', to: 'fake-anthropic', port: 8080, expect: 'allow' },
  { name: 'Open WebUI cannot reach the fake upstream', from: 'open-webui', to: 'fake-anthropic', port: 8080, expect: 'deny' },
  { name: 'an unlabelled pod cannot reach the fake upstream', from: 'unlabelled-pod', to: 'fake-anthropic', port: 8080, expect: 'deny' },
  { name: 'the fake upstream cannot reach the internet', from: 'fake-anthropic', to: 'anthropic-api', port: 443, expect: 'deny' },
  { name: 'the fake upstream cannot reach LiteLLM', from: 'fake-anthropic', to: 'litellm', port: 4000, expect: 'deny' },
];

/** Production adds OIDC (Open WebUI reaches the identity provider over HTTPS) and its datastores. */
export const PRODUCTION_FLOWS: Flow[] = [
  ...BASE_FLOWS.filter((f) => f.name !== 'Open WebUI cannot reach the internet'),
  { name: 'Open WebUI reaches the identity provider over HTTPS', from: 'open-webui', to: 'anthropic-api', port: 443, expect: 'allow' },
  { name: 'Open WebUI cannot reach plain HTTP', from: 'open-webui', to: 'anthropic-api', port: 80, expect: 'deny' },
  { name: 'Open WebUI reaches a private Postgres', from: 'open-webui', to: 'private-datastore', port: 5432, expect: 'allow' },
  { name: 'Open WebUI reaches a private Redis', from: 'open-webui', to: 'private-datastore', port: 6379, expect: 'allow' },
  { name: 'LiteLLM cannot reach the datastores', from: 'litellm', to: 'private-datastore', port: 5432, expect: 'deny' },
];

/** production-selfhosted: the same, with Postgres and Redis as pods of the namespace. */
export const SELFHOSTED_FLOWS: Flow[] = [
  ...PRODUCTION_FLOWS.filter((f) => f.to !== 'private-datastore'),
  { name: 'Open WebUI reaches Postgres', from: 'open-webui', to: 'postgres', port: 5432, expect: 'allow' },
  { name: 'Open WebUI reaches Redis', from: 'open-webui', to: 'redis', port: 6379, expect: 'allow' },
  { name: 'LiteLLM cannot reach Postgres', from: 'litellm', to: 'postgres', port: 5432, expect: 'deny' },
  { name: 'LiteLLM cannot reach Redis', from: 'litellm', to: 'redis', port: 6379, expect: 'deny' },
  { name: 'an unlabelled pod cannot reach Postgres', from: 'unlabelled-pod', to: 'postgres', port: 5432, expect: 'deny' },
  { name: 'an unlabelled pod cannot reach Redis', from: 'unlabelled-pod', to: 'redis', port: 6379, expect: 'deny' },
  { name: 'a pod of another namespace cannot reach Postgres', from: 'other-namespace-pod', to: 'postgres', port: 5432, expect: 'deny' },
  {
    name: 'Open WebUI cannot reach a datastore outside the namespace',
    from: 'open-webui',
    to: 'private-datastore',
    port: 5432,
    expect: 'deny',
  },
  { name: 'Postgres cannot reach the internet', from: 'postgres', to: 'anthropic-api', port: 443, expect: 'deny' },
  { name: 'Postgres cannot resolve names', from: 'postgres', to: 'dns', port: 53, protocol: 'UDP', expect: 'deny' },
  { name: 'Postgres cannot reach Open WebUI', from: 'postgres', to: 'open-webui', port: 8080, expect: 'deny' },
  { name: 'Redis cannot reach the internet', from: 'redis', to: 'anthropic-api', port: 443, expect: 'deny' },
  { name: 'Redis cannot resolve names', from: 'redis', to: 'dns', port: 53, protocol: 'UDP', expect: 'deny' },
  { name: 'Redis cannot reach Postgres', from: 'redis', to: 'postgres', port: 5432, expect: 'deny' },
];

/** A default deny of both directions that selects every pod of the namespace. */
export function checkDefaultDeny(objects: KubeObject[]): string[] {
  const deny = policiesOf(objects).filter((p) => {
    const spec = p['spec'] as { podSelector?: object; policyTypes?: string[]; ingress?: unknown[]; egress?: unknown[] };
    return (
      Object.keys(spec.podSelector ?? {}).length === 0 &&
      spec.policyTypes?.includes('Ingress') &&
      spec.policyTypes.includes('Egress') &&
      !spec.ingress?.length &&
      !spec.egress?.length
    );
  });
  if (deny.length === 0) return ['no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress+Egress, no rules)'];
  const v: string[] = [];
  for (const w of workloads(objects)) {
    if (!deny.some((p) => p.metadata.namespace === w.namespace && selects((p['spec'] as { podSelector: object }).podSelector, w.labels))) {
      v.push(`${w.id}: not covered by a default deny`);
    }
  }
  return v;
}

/** Evaluates the flow matrix against the rendered policies. */
export function checkFlows(objects: KubeObject[], flows: Flow[], cluster: ClusterShape): string[] {
  const eps = endpoints(objects, cluster);
  const policies = policiesOf(objects);
  const v: string[] = [];
  for (const f of flows) {
    const from = eps[f.from];
    const to = eps[f.to];
    if (!from || !to) {
      v.push(`${f.name}: no endpoint "${!from ? f.from : f.to}" in the render`);
      continue;
    }
    const ok = allowed(policies, from, to, f.port, f.protocol ?? 'TCP');
    if (ok !== (f.expect === 'allow')) v.push(`${f.name}: ${ok ? 'allowed' : 'denied'}, expected ${f.expect}`);
  }
  return v;
}
