// Every overlay applies with `kubectl apply -k`, the way users deploy: a server-side dry run
// against the live node (admission, schemas, PSA included) with the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { kc, stack } from '../support/live.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const run = promisify(execFile);
let ws: Workspace;

beforeAll(() => {
  ws = createWorkspace(); // a copy with generated secrets: the developer's own files stay untouched
});
afterAll(() => ws?.[Symbol.dispose]());

async function kubectl(args: string[], input?: string): Promise<{ code: number; out: string }> {
  const child = run('kubectl', ['--kubeconfig', stack.kubeconfig, ...args], { maxBuffer: 16 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return child.then(
    ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
}

describe('kubectl apply -k', { timeout: 120_000 }, () => {
  // The overlays other than dev use namespace "chat"; a server-side dry run needs it to exist.
  beforeAll(async () => {
    // --save-config, as `kubectl apply` would have left it: else apply warns about the annotation.
    const r = await kubectl(['create', 'namespace', 'chat', '--save-config']);
    expect(r.code, r.out).toBe(0);
  });
  afterAll(async () => {
    await kc.makeApiClient(k8s.CoreV1Api).deleteNamespace({ name: 'chat' }).catch(() => undefined);
  });

  it.each(['kind', 'production'])('accepts overlay %s (server-side dry run)', async (overlay) => {
    const r = await kubectl(['apply', '-k', join(ws.overlaysDir, overlay), '--dry-run=server']);
    expect(r.out).not.toMatch(/error|Warning/i);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/deployment.apps\/open-webui (created|configured) \(server dry run\)/);
  });

  it('accepts overlay openshift, except its Route, whose API only OpenShift serves', async () => {
    const { stdout } = await run('kubectl', ['kustomize', join(ws.overlaysDir, 'openshift')], { maxBuffer: 16 << 20 });
    const docs = stdout.split(/^---$/m);
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
metadata: {name: root-pod, namespace: chat-dev}
spec:
  containers: [{name: c, image: chatstack.local/fake-anthropic:0.1.0, securityContext: {runAsUser: 0}}]
`;
    const r = await kubectl(['apply', '-f', '-', '--dry-run=server'], bad);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/violates PodSecurity "restricted:latest"/);
  });
});
