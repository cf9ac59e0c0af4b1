import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listOverlays, type KubeObject } from '../../lib/kustomize.ts';
import { validateObjects } from './schema.ts';
import * as policy from './policy.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { checkLiteLLMConfig, documentedModels, embeddingModels, liteLLMConfig, modelMap } from './litellm-config.ts';
import { pinnedImages } from '../../lib/pins.ts';

// What differs per overlay: where its way-in proxy runs (dev has none: port-forwards only);
// OpenShift assigns UIDs and runs its own DNS and router (admitted by namespace label alone).
const withoutProxyAllow = (flows: policy.Flow[]) => flows.filter((f) => f.name !== 'the way-in proxy reaches Open WebUI');
const EXPECT: Record<string, { ctx: policy.PolicyContext; cluster: policy.ClusterShape; flows: policy.Flow[]; namespace: string }> = {
  dev: {
    ctx: { fixedIds: true },
    cluster: policy.K3S_CLUSTER,
    flows: [...withoutProxyAllow(policy.BASE_FLOWS), ...policy.DEV_FLOWS],
    namespace: 'chat-dev',
  },
  'local-cluster': {
    ctx: { fixedIds: true },
    cluster: policy.K3S_CLUSTER,
    flows: [...policy.BASE_FLOWS, ...policy.PROXY_PODS_ONLY],
    namespace: 'chat',
  },
  production: {
    ctx: { fixedIds: true },
    cluster: policy.PLATFORM_CLUSTER,
    flows: [...policy.PRODUCTION_FLOWS, ...policy.PROXY_PODS_ONLY],
    namespace: 'chat',
  },
  'production-selfhosted': {
    ctx: { fixedIds: true },
    cluster: policy.PLATFORM_CLUSTER,
    flows: [...policy.SELFHOSTED_FLOWS, ...policy.PROXY_PODS_ONLY],
    namespace: 'chat',
  },
  openshift: { ctx: { fixedIds: false }, cluster: policy.OPENSHIFT_CLUSTER, flows: policy.BASE_FLOWS, namespace: 'chat' },
};

let ws: Workspace;

function openWebuiEnv(objs: KubeObject[]): Record<string, string | undefined> {
  const w = policy.workloads(objs).find((x) => x.id === 'Deployment/open-webui')!;
  return Object.fromEntries((w.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
}

/** Where a container's variable comes from: its value, or `secret/key` of its secretKeyRef. */
function envSource(objs: KubeObject[], workload: string, name: string): string | undefined {
  const w = policy.workloads(objs).find((x) => x.id === workload)!;
  const e = (w.spec.containers[0]!.env ?? []).find((x) => x.name === name) as
    { value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } } | undefined;
  const ref = e?.valueFrom?.secretKeyRef;
  return ref ? `${ref.name.replace(/-[a-z0-9]{10}$/, '')}/${ref.key}` : e?.value;
}

/** How users reach Open WebUI in a rendered overlay: its HTTPRoute, public URL and who the NetworkPolicy admits. */
function wayIn(objs: KubeObject[]) {
  const route = objs.find((o) => o.kind === 'HTTPRoute' && o.metadata.name === 'open-webui')!;
  const spec = route['spec'] as { parentRefs: unknown[]; hostnames: string[]; rules: { backendRefs: unknown[] }[] };
  const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'open-webui')!;
  const env = openWebuiEnv(objs);
  return {
    parentRefs: spec.parentRefs,
    hostnames: spec.hostnames,
    backend: spec.rules.flatMap((r) => r.backendRefs),
    webuiUrl: env['WEBUI_URL'],
    corsOrigin: env['CORS_ALLOW_ORIGIN'],
    admitted: (np['spec'] as { ingress: { from: unknown[] }[] }).ingress.flatMap((r) => r.from),
  };
}
const rendered = new Map<string, KubeObject[]>();

beforeAll(async () => {
  ws = await createWorkspace();
  await Promise.all(listOverlays(ws.overlaysDir).map(async (name) => rendered.set(name, await ws.render(join(ws.localDir, name)))));
});
afterAll(() => ws?.[Symbol.dispose]());

describe('the overlays', () => {
  it('are exactly the documented ones', () => {
    expect(listOverlays(ws.overlaysDir)).toEqual(Object.keys(EXPECT).sort());
  });
});

describe.each(Object.keys(EXPECT))('overlay %s', (name) => {
  const { ctx, cluster, flows, namespace } = EXPECT[name]!;
  const objects = () => rendered.get(name)!;

  it('renders and puts everything in its namespace', () => {
    expect(objects().length).toBeGreaterThan(10);
    expect(objects().find((o) => o.kind === 'Namespace')?.metadata.name).toBe(namespace);
  });
  it('validates against the Kubernetes API schemas', () => {
    expect(validateObjects(objects())).toEqual([]);
  });
  it('meets Pod Security Standard "restricted" in every container', () => {
    expect(policy.checkRestricted(objects(), ctx)).toEqual([]);
  });
  it('runs every container with a read-only root filesystem', () => {
    expect(policy.checkReadOnlyRoot(objects())).toEqual([]);
  });
  it('mounts no service account token and injects no service links', () => {
    expect(policy.checkPodHardening(objects())).toEqual([]);
  });
  it('pins every image to an exact release', () => {
    expect(policy.checkPinnedImages(objects())).toEqual([]);
  });
  it('gives every container startup, liveness and readiness probes', () => {
    expect(policy.checkProbes(objects())).toEqual([]);
  });
  it('sets cpu, memory and ephemeral-storage requests and limits on every container, and bounds every emptyDir', () => {
    expect(policy.checkResources(objects())).toEqual([]);
  });
  it('leaves the replica count of an autoscaled workload to its HorizontalPodAutoscaler', () => {
    expect(policy.checkAutoscaledReplicas(objects())).toEqual([]);
  });
  it('runs every workload, the datastores too, with UID, GID and fsGroup at or above 10000', () => {
    expect(policy.checkHighIds(objects())).toEqual([]);
  });
  it('takes every secret from a generated Secret', () => {
    expect(policy.checkNoLiteralSecrets(objects())).toEqual([]);
  });
  it('keeps Open WebUI auth on with a stable signing key', () => {
    expect(policy.checkAuth(objects())).toEqual([]);
  });
  it('pins every setting whose default differs between the upstream and the hermetic images', () => {
    expect(policy.checkImageDefaults(objects())).toEqual([]);
  });
  it('scales Open WebUI only the way its database allows', () => {
    expect(policy.checkOpenWebUiScaling(objects())).toEqual([]);
  });
  it("keeps Open WebUI's Postgres connections, at the HPA's maximum plus a surge pod, within the budget", () => {
    const budget = policy.connectionBudget(objects());
    expect(budget.violations).toEqual([]);
    if (budget.total) console.log(`connections: ${budget.pods} pods x ${budget.perReplica} = ${budget.total} of ${budget.limit}`);
  });
  it('serves Open WebUI at / with no path rewrite', () => {
    expect(policy.checkIngress(objects())).toEqual([]);
  });
  it('enforces Pod Security Admission "restricted" on its namespace', () => {
    expect(policy.checkPodSecurityAdmission(objects())).toEqual([]);
  });
  it('denies all traffic by default', () => {
    expect(policy.checkDefaultDeny(objects())).toEqual([]);
  });
  it('allows exactly the flows of the NetworkPolicy matrix', () => {
    expect(policy.checkFlows(objects(), flows, cluster)).toEqual([]);
  });
  it('configures LiteLLM with models the pinned release knows, keys from the environment', () => {
    expect(checkLiteLLMConfig(objects())).toEqual([]);
  });
});

describe('the LiteLLM model list', () => {
  it('is the one docs/operations.md documents', () => {
    const config = liteLLMConfig(rendered.get('dev')!);
    expect(config.model_list.map((m) => ({ name: m.model_name, id: m.litellm_params.model }))).toEqual(documentedModels());
  });
  it('is checked against the model map of the LiteLLM version the manifests pin', () => {
    expect('v' + modelMap().litellmVersion).toBe(pinnedImages()['ghcr.io/berriai/litellm-non_root']);
  });
  it('names no model deprecated within 90 days, counted from the run date', () => {
    // The window itself, on the model the map deprecates on 2026-11-30 (the old default Sonnet).
    const old = [{ ...rendered.get('dev')!.find((o) => o.metadata.name.startsWith('litellm-config'))! }];
    const withOld = old.map((cm) => ({
      ...cm,
      data: {
        'config.yaml': (cm['data'] as Record<string, string>)['config.yaml']!.replace(
          'anthropic/claude-sonnet-5-5',
          'anthropic/claude-sonnet-4-5-20250929',
        ),
      },
    }));
    expect(checkLiteLLMConfig(withOld, modelMap(), new Date('2026-08-01T00:00:00Z'))).toEqual([]);
    expect(checkLiteLLMConfig(withOld, modelMap(), new Date('2026-09-15T00:00:00Z')).join('\n')).toMatch(
      /claude-sonnet-4-5-20250929 is deprecated from 2026-11-30, 76 days away/,
    );
    expect(checkLiteLLMConfig(withOld, modelMap(), new Date('2026-12-01T00:00:00Z')).join('\n')).toMatch(/is deprecated since 2026-11-30/);
    // And the shipped list, today (the overlay tests above run the same check too).
    expect(checkLiteLLMConfig(rendered.get('dev')!)).toEqual([]);
  });
  it("names Open WebUI's task model (titles, tags, follow-ups), and that model is the fastest, Haiku, in every overlay", () => {
    for (const [name, objects] of rendered) {
      const task = openWebuiEnv(objects)['TASK_MODEL_EXTERNAL'];
      const models = liteLLMConfig(objects).model_list;
      expect({ name, task, known: models.some((m) => m.model_name === task) }).toEqual({ name, task: 'claude-haiku-5-5', known: true });
      expect(models.find((m) => m.model_name === task)!.litellm_params.model).toMatch(/haiku/);
    }
  });
  it('is the same in every overlay', () => {
    const lists = [...rendered.values()].map((o) => liteLLMConfig(o));
    for (const l of lists) expect(l).toEqual(lists[0]);
  });
});

describe('overlay deltas', () => {
  const images = (name: string) =>
    policy
      .workloads(rendered.get(name)!)
      .flatMap((w) => w.spec.containers.map((c) => `${w.id}/${c.name}=${c.image}`))
      .sort();

  it('all run the same LiteLLM and Open WebUI images', () => {
    const apps = (name: string) => images(name).filter((i) => !i.includes('fake-anthropic'));
    for (const name of ['local-cluster', 'production', 'openshift']) expect(apps(name)).toEqual(apps('dev'));
  });
  it('production scales both apps with PodDisruptionBudgets and HPAs', () => {
    const objs = rendered.get('production')!;
    for (const app of ['litellm', 'open-webui']) {
      const w = policy.workloads(objs).find((x) => x.id === `Deployment/${app}`)!;
      expect(policy.autoscalerOf(objs, w)?.minReplicas).toBeGreaterThanOrEqual(2);
      // maxUnavailable, not minAvailable: one pod at a time whatever count the HPA chose.
      const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === app)!;
      expect(pdb['spec']).toMatchObject({ maxUnavailable: 1 });
      expect(pdb['spec']).not.toHaveProperty('minAvailable');
    }
  });
  it.each(['production', 'production-selfhosted'])(
    "%s comes in through the platform's Gateway: an HTTPRoute for its host, no Ingress",
    (name) => {
      const objs = rendered.get(name)!;
      expect(objs.some((o) => o.kind === 'Ingress')).toBe(false);
      expect(
        objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'public-endpoint'),
        'the parameters stay local',
      ).toBe(false);
      expect(wayIn(objs)).toEqual({
        parentRefs: [
          { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', namespace: 'gateway-system', sectionName: 'https' },
        ],
        hostnames: ['chat.example.com'],
        backend: [{ name: 'open-webui', port: 8080 }],
        webuiUrl: 'https://chat.example.com',
        corsOrigin: 'https://chat.example.com',
        admitted: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway-system' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'traefik' } },
          },
        ],
      });
    },
  );
  it('local-cluster brings its own Gateway: HTTPS for chat.localhost with the generated certificate, HTTP redirected', () => {
    const objs = rendered.get('local-cluster')!;
    expect(wayIn(objs)).toMatchObject({
      parentRefs: [{ name: 'chat', namespace: 'chat', sectionName: 'https' }],
      hostnames: ['chat.localhost'],
      webuiUrl: 'https://chat.localhost',
      admitted: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'traefik' } },
        },
      ],
    });
    const gateway = objs.find((o) => o.kind === 'Gateway' && o.metadata.name === 'chat')!;
    const listeners = (
      gateway['spec'] as {
        listeners: { name: string; hostname: string; protocol: string; tls?: { mode: string; certificateRefs: { name: string }[] } }[];
      }
    ).listeners;
    expect(listeners.map((l) => [l.name, l.hostname, l.protocol])).toEqual([
      ['http', 'chat.localhost', 'HTTP'],
      ['https', 'chat.localhost', 'HTTPS'],
    ]);
    const tlsSecret = listeners[1]!.tls!.certificateRefs[0]!.name;
    expect(objs.find((o) => o.kind === 'Secret' && o.metadata.name === tlsSecret)?.['type']).toBe('kubernetes.io/tls');
    const redirect = objs.find((o) => o.kind === 'HTTPRoute' && o.metadata.name === 'http-to-https')!;
    expect(redirect['spec']).toMatchObject({
      parentRefs: [{ name: 'chat', sectionName: 'http' }],
      hostnames: ['chat.localhost'],
      rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }],
    });
  });
  it('a classic Ingress is one component away: plain networking.k8s.io/v1 with the class and host the overlay gives, no controller annotations', async () => {
    // production-selfhosted with components/ingress instead of components/gateway
    const dir = join(ws.root, 'manifests/examples/ingress');
    cpSync(join(ws.overlaysDir, 'production-selfhosted'), dir, { recursive: true });
    const original = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    writeFileSync(join(dir, 'kustomization.yaml'), original.replace('components/gateway', 'components/ingress'));
    writeFileSync(
      join(dir, 'public-endpoint.yaml'),
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: public-endpoint',
        '  annotations:',
        '    config.kubernetes.io/local-config: "true"',
        'data:',
        '  host: chat.internal.example',
        '  ingressClassName: traefik',
        '  tlsSecretName: chat-tls',
        '  proxyNamespace: kube-system',
        '  proxyName: traefik',
        '',
      ].join('\n'),
    );
    const objs = await ws.render(dir);
    expect(objs.some((o) => o.kind === 'HTTPRoute')).toBe(false);
    const ingress = objs.find((o) => o.kind === 'Ingress')!;
    expect(ingress.metadata.annotations ?? {}).toEqual({});
    expect(ingress['spec']).toEqual({
      ingressClassName: 'traefik',
      tls: [{ hosts: ['chat.internal.example'], secretName: 'chat-tls' }],
      rules: [
        {
          host: 'chat.internal.example',
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'open-webui', port: { name: 'http' } } } }] },
        },
      ],
    });
    const env = openWebuiEnv(objs);
    expect([env['WEBUI_URL'], env['CORS_ALLOW_ORIGIN']]).toEqual(['https://chat.internal.example', 'https://chat.internal.example']);
    expect(policy.checkFlows(objs, [...policy.SELFHOSTED_FLOWS], policy.K3S_CLUSTER)).toEqual([]);
  });
  it('openshift exposes Open WebUI through an edge-terminated Route and has no Ingress', () => {
    const objs = rendered.get('openshift')!;
    expect(objs.some((o) => o.kind === 'Ingress')).toBe(false);
    expect((objs.find((o) => o.kind === 'Route')!['spec'] as { tls: { termination: string } }).tls.termination).toBe('edge');
  });
  it('only dev talks to the fake upstream', () => {
    for (const name of ['local-cluster', 'production', 'openshift']) {
      expect(images(name).some((i) => i.includes('fake-anthropic'))).toBe(false);
      const litellm = policy.workloads(rendered.get(name)!).find((w) => w.id === 'Deployment/litellm')!;
      expect(litellm.spec.containers[0]!.env?.map((e) => e.name)).not.toContain('ANTHROPIC_API_BASE');
    }
  });
});

describe('documents: retrieval through the embedding model LiteLLM serves', () => {
  it('every overlay embeds with the configured embedding model, through LiteLLM with its key, the bypass off', () => {
    for (const [name, objs] of rendered) {
      const env = openWebuiEnv(objs);
      const embedding = embeddingModels(liteLLMConfig(objs)).map((m) => m.model_name);
      expect({
        name,
        bypass: env['BYPASS_EMBEDDING_AND_RETRIEVAL'],
        engine: env['RAG_EMBEDDING_ENGINE'],
        modelIsEmbedding: embedding.includes(env['RAG_EMBEDDING_MODEL'] ?? ''),
        url: env['RAG_OPENAI_API_BASE_URL'],
        key: envSource(objs, 'Deployment/open-webui', 'RAG_OPENAI_API_KEY'),
      }).toEqual({
        name,
        bypass: 'False',
        engine: 'openai',
        modelIsEmbedding: true,
        url: env['OPENAI_API_BASE_URL'],
        key: envSource(objs, 'Deployment/open-webui', 'OPENAI_API_KEY'),
      });
      expect(Number(env['RAG_EMBEDDING_BATCH_SIZE'])).toBeGreaterThan(1);
    }
  });
  it("sizes pgvector's table to the embedding model's dimension wherever pgvector is the store", () => {
    const sizes = Object.fromEntries(Object.entries(modelMap().models).map(([id, m]) => [id, m.output_vector_size]));
    let pgvector = 0;
    for (const [name, objs] of rendered) {
      const env = openWebuiEnv(objs);
      if (env['VECTOR_DB'] !== 'pgvector') continue;
      pgvector++;
      const model = embeddingModels(liteLLMConfig(objs)).find((m) => m.model_name === env['RAG_EMBEDDING_MODEL'])!;
      expect({ name, length: Number(env['PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH']) }).toEqual({
        name,
        length: sizes[model.litellm_params.model],
      });
    }
    expect(pgvector).toBeGreaterThanOrEqual(2); // production and production-selfhosted
  });
  it("LiteLLM calls Voyage AI's API with the key of its Secret; only dev's points at the fake", () => {
    for (const [name, objs] of rendered) {
      expect({
        name,
        base: envSource(objs, 'Deployment/litellm', 'VOYAGE_API_BASE'),
        key: envSource(objs, 'Deployment/litellm', 'VOYAGE_API_KEY'),
      }).toEqual({
        name,
        base: name === 'dev' ? 'http://fake-anthropic:8080/v1' : 'https://api.voyageai.com/v1',
        key: 'litellm-secrets/VOYAGE_API_KEY',
      });
    }
  });
  it('components/full-context-documents switches retrieval off (documents pasted whole) and changes nothing else', async () => {
    const dir = join(ws.root, 'manifests/examples/full-context');
    cpSync(join(ws.overlaysDir, 'production'), dir, { recursive: true });
    const original = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      original.replace(/^components:\n/m, 'components:\n  - ../../components/full-context-documents\n'),
    );
    const objs = await ws.render(dir);
    const env = openWebuiEnv(objs);
    const before = openWebuiEnv(await ws.render(join(ws.overlaysDir, 'production')));
    expect(env['BYPASS_EMBEDDING_AND_RETRIEVAL']).toBe('True');
    expect({ ...env, BYPASS_EMBEDDING_AND_RETRIEVAL: 'False' }).toEqual(before);
  });
});
