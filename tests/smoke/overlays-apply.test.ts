// Every overlay applies with `kubectl apply -k`, the way users deploy: a server-side dry run
// against the live node (admission, schemas, PSA included) with the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { $ } from 'zx';
import { kc, stack } from '../support/live.ts';
import { render } from '../../dev/lib/kustomize.ts';
import { deleteNamespace } from '../../dev/lib/kube/namespace.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { recipeImageRef } from '../../images/factory/recipes.ts';

let ws: Workspace;

beforeAll(() => {
  ws = createWorkspace(); // a copy with generated secrets: the developer's own files stay untouched
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

  it.each(['kind', 'production'])('accepts overlay %s (server-side dry run)', async (overlay) => {
    const r = await kubectl(['apply', '-k', join(ws.overlaysDir, overlay), '--dry-run=server']);
    expect(r.out).not.toMatch(/error|Warning/i);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/deployment.apps\/open-webui (created|configured) \(server dry run\)/);
  });

  it('accepts overlay openshift, except its Route, whose API only OpenShift serves', async () => {
    const docs = (await render(join(ws.overlaysDir, 'openshift'))).split(/^---$/m);
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
