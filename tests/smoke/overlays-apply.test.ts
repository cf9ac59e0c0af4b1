// Every overlay applies with `kubectl apply -k`, the way users deploy: a server-side dry run
// against the live node (admission, schemas, PSA included) with the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { $ } from 'zx';
import { kc, stack } from '../support/live.ts';
import { render } from '../../lib/kustomize.ts';
import { deleteNamespace } from '../../lib/kube/namespace.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { recipeImageRef } from '../../images/factory/recipes.ts';
import { checkGatewayApi, GatewayApiMissingError } from '../../lib/kube/cluster-needs.ts';

let ws: Workspace;

beforeAll(async () => {
  ws = await createWorkspace(); // a copy with generated secrets: the developer's own files stay untouched
});
afterAll(() => ws?.[Symbol.dispose]());

async function kubectl(args: string[], input?: string): Promise<{ code: number; out: string }> {
  const r = await $({ quiet: true, nothrow: true, input })`kubectl --kubeconfig ${stack.kubeconfig} ${args}`;
  return { code: r.exitCode ?? 1, out: r.stdout + r.stderr };
}

describe('kubectl apply -k', { timeout: 120_000 }, () => {
  // The overlays other than dev use namespace "chat"; a server-side dry run needs it to exist.
  beforeAll(async () => {
    // --save-config, as `kubectl apply` would have left it: else apply warns about the annotation.
    const r = await kubectl(['create', 'namespace', 'chat', '--save-config']);
    expect(r.code, r.out).toBe(0);
  });
  afterAll(async () => {
    await deleteNamespace(kc, 'chat');
  });

  // The node serves the Gateway API CRDs (k3s installs them with Traefik): routes and Gateways are checked against their schemas too.
  // Each overlay as GitOps applies it (secret-free) and as its local instance (with its Secrets).
  const CASES = ['local-cluster', 'production', 'production-selfhosted'].flatMap((o) => [`overlays/${o}`, `local/${o}`]);
  it.each(CASES)('accepts manifests/%s (server-side dry run)', async (path) => {
    const r = await kubectl(['apply', '-k', join(ws.root, 'manifests', path), '--dry-run=server']);
    expect(r.out).not.toMatch(/error|Warning/i);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/deployment.apps\/open-webui (created|configured) \(server dry run\)/);
    expect(r.out).toMatch(/httproute.gateway.networking.k8s.io\/open-webui (created|configured) \(server dry run\)/);
  });

  it('says up front when the cluster lacks a Gateway API kind the overlay uses, and that the Gateway a route names is missing', async () => {
    const route = (parent: string) => ({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r', namespace: 'chat' },
      spec: { parentRefs: [{ name: parent, namespace: 'kube-system' }] },
    });
    const lines: string[] = [];
    // Positive control: the node serves HTTPRoute, and k3s's own Gateway exists.
    await checkGatewayApi(kc, [route('traefik-gateway')], (l) => lines.push(l));
    expect(lines).toEqual([]);
    await checkGatewayApi(kc, [route('nowhere')], (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/attaches to Gateway kube-system\/nowhere, which this cluster lacks: applied, but it serves nothing/);
    const unserved = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'MeshRoute', metadata: { name: 'm' } };
    await expect(checkGatewayApi(kc, [unserved], () => {})).rejects.toThrow(GatewayApiMissingError);
    await expect(checkGatewayApi(kc, [unserved], () => {})).rejects.toThrow(/no Gateway API CRD for MeshRoute.*components\/ingress/);
  });

  it('accepts overlay openshift, except its Route, whose API only OpenShift serves', async () => {
    const docs = (await render(join(ws.localDir, 'openshift'))).split(/^---$/m);
    const route = docs.filter((d) => /^kind: Route$/m.test(d));
    expect(route).toHaveLength(1);
    const rest = docs.filter((d) => !/^kind: Route$/m.test(d)).join('---');
    const r = await kubectl(['apply', '-f', '-', '--dry-run=server'], rest);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/error|Warning/i);
    expect(r.out).toMatch(/open-webui/);
  });

  it('refuses a pod spec the namespace\'s "restricted" policy forbids (the check is live)', async () => {
    // Positive control for the dry runs above: a root container in the same apply path fails.
    const bad = `apiVersion: v1
kind: Pod
metadata: {name: root-pod, namespace: ${stack.namespace}}
spec:
  containers: [{name: c, image: ${await recipeImageRef('fake-anthropic')}, securityContext: {runAsUser: 0}}]
`;
    const r = await kubectl(['apply', '-f', '-', '--dry-run=server'], bad);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/violates PodSecurity "restricted:latest"/);
  });
});
