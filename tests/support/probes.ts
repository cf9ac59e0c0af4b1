// Network probes for live tests: TCP connects and name lookups from inside a container, probe
// pods that pass the namespace's "restricted" admission, and the node's NetworkPolicy dataplane.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { dockerTry } from '../../lib/docker.ts';
import { execIn, waitUntilPodReady } from '../../lib/kube/pod.ts';

// The probe programs are files beside this one (tests/support/probes/), sent as `-c`/`-e` code.
const probe = (file: string) => readFileSync(join(import.meta.dirname, 'probes', file), 'utf8');
const PY_CONNECT = probe('connect.py');
const NODE_CONNECT = probe('connect.cjs');
const BASH_CONNECT = probe('connect.sh');
const PY_RESOLVE = probe('resolve.py');
const NODE_RESOLVE = probe('resolve.cjs');

export type Runtime = 'python' | 'node' | 'bash';

/** Whether a TCP connection from inside the container to host:port opens within `seconds`. */
export async function canConnect(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  runtime: Runtime,
  host: string,
  port: number,
  seconds = 4,
): Promise<boolean> {
  const args = [host, String(port), String(seconds)];
  const cmd =
    runtime === 'python'
      ? ['python3', '-c', PY_CONNECT, ...args]
      : runtime === 'node'
        ? ['node', '-e', NODE_CONNECT, ...args]
        : ['bash', '-c', BASH_CONNECT, 'probe', ...args];
  const r = await execIn(kc, namespace, pod, container, cmd, (seconds + 20) * 1000);
  if (!/^(open|closed)/m.test(r.stdout))
    throw new Error(`probe did not run in ${pod}/${container}: code ${r.code}, ${r.stdout} ${r.stderr}`);
  return r.code === 0;
}

/** Whether a name resolves inside the container (through the cluster DNS). */
export async function resolves(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  runtime: Runtime,
  name: string,
): Promise<boolean> {
  if (runtime === 'bash') throw new Error('resolves(): bash has no resolver of its own; use a python or node container');
  const cmd = runtime === 'python' ? ['python3', '-c', PY_RESOLVE, name] : ['node', '-e', NODE_RESOLVE, name];
  return (await execIn(kc, namespace, pod, container, cmd)).code === 0;
}

/**
 * A probe pod: the fake upstream's image (it has node, and serves :8080 so it can be a target
 * too), with a restricted-compliant spec and only the labels given.
 */
export async function createProbePod(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  image: string,
  labels: Record<string, string>,
): Promise<k8s.V1Pod> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'probe',
            image,
            imagePullPolicy: 'IfNotPresent',
            env: [{ name: 'FAKE_ANTHROPIC_API_KEY', value: 'probe-only' }],
            ports: [{ containerPort: 8080, name: 'http' }],
            readinessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 1 },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '96Mi' } },
          },
        ],
      },
    },
  });
  return waitUntilPodReady(kc, namespace, name, { timeoutMs: 90_000 });
}

/**
 * Evidence, read from the node itself, that a NetworkPolicy controller programs the dataplane:
 * kube-router (k3s's embedded controller, and the hermetic node's) adds KUBE-NWPLCY-* iptables
 * chains. Without it, every denial a test sees would mean nothing.
 */
export async function networkPolicyEnforcement(nodeContainerId: string): Promise<{ running: boolean; detail: string }> {
  const r = await dockerTry(
    'exec',
    nodeContainerId,
    'sh',
    '-c',
    '(iptables-save; iptables-legacy-save) 2>/dev/null | grep -c "^:KUBE-NWPLCY" || true',
  );
  const chains = Number(r.stdout.trim()) || 0;
  return chains > 0
    ? { running: true, detail: `kube-router: ${chains} KUBE-NWPLCY chains` }
    : { running: false, detail: `no KUBE-NWPLCY iptables chains in the node (${r.stderr || 'none'})` };
}
