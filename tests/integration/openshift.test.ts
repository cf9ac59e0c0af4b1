// overlays/openshift run for real under an arbitrary UID. The overlay fixes no UID, GID or
// fsGroup: OpenShift's restricted-v2 SCC assigns them. This node has no SCC admission, so the
// test wraps the overlay with what the SCC would inject (a UID from a namespace range, fsGroup
// from it, GID 0 through the runtime since no image knows that UID) and proves both apps start,
// stay Ready without a restart, write where they must, and complete a chat. Around the overlay,
// test-only: the fake upstream, DNS through this node's CoreDNS (the overlay allows
// openshift-dns), and no Route (route.openshift.io needs OpenShift's router; the static tier
// checks its schema). It runs beside the dev stack on the same node, in its own namespace.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { stackSecret, up, type Stack } from '../../dev/lib/stack.ts';
import { execIn, listPods } from '../../lib/kube/pod.ts';
import { kc as devKc, stack as devStack } from '../support/live.ts';
import { chatThroughOpenWebui } from '../support/open-webui.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const NAMESPACE = 'chat-openshift';
/** The first UID of a namespace's range as OpenShift allocates them (openshift.io/sa.scc.uid-range). */
const SCC_UID = 1000680000;

let ws: Workspace | undefined;
let stack: Stack | undefined;
let kc: k8s.KubeConfig;
/** uid of each dev-stack Deployment before this overlay was applied beside it */
let devDeployments: Record<string, string> = {};

const deploymentUids = async (client: k8s.KubeConfig, namespace: string) =>
  Object.fromEntries(
    (await client.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace })).items.map((d) => [
      d.metadata!.name!,
      d.metadata!.uid!,
    ]),
  );

/** The overlay as an SCC-admitted namespace on this node sees it (see the header). */
function writeWrapper(root: string): string {
  const dir = join(root, 'openshift-under-test');
  mkdirSync(dir, { recursive: true });
  const scc = [
    { op: 'add', path: '/spec/template/spec/securityContext/runAsUser', value: SCC_UID },
    { op: 'add', path: '/spec/template/spec/securityContext/fsGroup', value: SCC_UID },
    { op: 'add', path: '/spec/template/spec/securityContext/supplementalGroups', value: [0] },
  ];
  const coreDns = [
    {
      op: 'replace',
      path: '/spec/egress',
      value: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    },
  ];
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: NAMESPACE,
      resources: ['../manifests/local/openshift'],
      components: ['../manifests/components/fake-anthropic'],
      patches: [
        { target: { kind: 'Deployment' }, patch: stringify(scc) },
        { target: { kind: 'NetworkPolicy', name: 'allow-dns-egress' }, patch: stringify(coreDns) },
        { patch: stringify({ $patch: 'delete', apiVersion: 'route.openshift.io/v1', kind: 'Route', metadata: { name: 'open-webui' } }) },
      ],
    }),
  );
  return dir;
}

async function podOfApp(app: string): Promise<string> {
  const pods = await listPods(kc, NAMESPACE, `app.kubernetes.io/name=${app}`);
  expect(pods).toHaveLength(1);
  return pods[0]!.metadata!.name!;
}

beforeAll(async () => {
  ws = await createWorkspace();
  const secretsDir = join(ws.localDir, 'openshift');
  fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') });
  devDeployments = await deploymentUids(devKc, devStack.namespace);
  stack = await up({
    overlay: 'openshift',
    dir: writeWrapper(ws.root),
    secretsDir,
    namespace: NAMESPACE,
    kubeconfig: devStack.kubeconfig,
    hermeticImagesLoaded: devStack.images.mode === 'hermetic',
    log: (l) => console.log(`[openshift] ${l}`),
  });
  kc = stack.kc;
}, 300_000);

afterAll(async () => {
  await stack?.stop({ log: (l) => console.log(`[openshift] ${l}`) });
  ws?.[Symbol.dispose]();
}, 120_000);

describe('the openshift overlay under an arbitrary UID', { timeout: 120_000 }, () => {
  it('runs both apps as the assigned UID with GID 0, Ready and never restarted', async () => {
    for (const [app, runtime] of [
      ['open-webui', 'python3'],
      ['litellm', 'python'],
    ] as const) {
      const pod = await podOfApp(app);
      const status = (await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: pod, namespace: NAMESPACE })).status!;
      expect(status.conditions?.find((c) => c.type === 'Ready')?.status, app).toBe('True');
      expect(
        status.containerStatuses?.map((c) => c.restartCount),
        app,
      ).toEqual([0]);
      const ids = await execIn(kc, NAMESPACE, pod, app, [
        runtime,
        '-c',
        'import os; print(os.getuid(), os.getgid(), sorted(os.getgroups()))',
      ]);
      expect(ids.code, ids.stderr).toBe(0);
      expect(ids.stdout.trim(), app).toBe(`${SCC_UID} 0 [0, ${SCC_UID}]`);
    }
  });

  it('completes a streamed chat through Open WebUI and LiteLLM', async () => {
    const admin = {
      email: stackSecret(stack!.info.secretsDir, 'admin.env', 'WEBUI_ADMIN_EMAIL'),
      password: stackSecret(stack!.info.secretsDir, 'admin.env', 'WEBUI_ADMIN_PASSWORD'),
    };
    const { got, want } = await chatThroughOpenWebui(stack!.info.urls.openWebui, admin, 'Hello from an arbitrary UID');
    expect(got).toEqual(want);
  });

  it("left the dev stack beside it untouched (the apply prunes only its own overlay's objects)", async () => {
    expect(Object.keys(devDeployments).sort()).toEqual(['fake-anthropic', 'litellm', 'open-webui']);
    expect(await deploymentUids(devKc, devStack.namespace)).toEqual(devDeployments);
  });

  it('writes its database and vector store on the data volume as that UID', async () => {
    const pod = await podOfApp('open-webui');
    const r = await execIn(kc, NAMESPACE, pod, 'open-webui', [
      'stat',
      '-c',
      '%n %u',
      '/app/backend/data/webui.db',
      '/app/backend/data/vector_db/chroma.sqlite3',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      `/app/backend/data/webui.db ${SCC_UID}`,
      `/app/backend/data/vector_db/chroma.sqlite3 ${SCC_UID}`,
    ]);
  });
});
