// Pods for live tests: exec into a container (the `kubectl exec` path), TCP probes from inside
// a pod, and short-lived probe pods that pass the namespace's "restricted" admission.
import * as k8s from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import { apiMessage, podState } from '../../dev/lib/kube.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
}

export async function execIn(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, command: string[], timeoutMs = 30_000): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return await new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(' ')} in ${pod}/${container}: no answer in ${timeoutMs} ms`)), timeoutMs);
    new k8s.Exec(kc)
      .exec(namespace, pod, container, command, sink(out), sink(err), null, false, (status) => {
        clearTimeout(timer);
        const exit = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
        // Give the last frames of stdout/stderr a moment to land before reading them.
        setTimeout(() => {
          resolve({
            code: status.status === 'Success' ? 0 : Number(exit ?? 1),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8') || (status.status === 'Success' ? '' : (status.message ?? '')),
          });
        }, 50);
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(new Error(`exec in ${pod}/${container} failed: ${apiMessage(e)}`));
      });
  });
}

/** The running pod of an app (by app.kubernetes.io/name). */
export async function podOf(kc: k8s.KubeConfig, namespace: string, app: string): Promise<k8s.V1Pod> {
  const pods = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=${app}` });
  const running = pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (running.length === 0) throw new Error(`no running pod of ${app} in ${namespace} (${pods.items.map((p) => `${p.metadata?.name}: ${p.status?.phase}`).join(', ')})`);
  return running[0]!;
}

const PY_CONNECT = [
  'import socket, sys',
  'try:',
  '    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()',
  '    print("open")',
  'except Exception as e:',
  '    print("closed", type(e).__name__, e)',
  '    sys.exit(1)',
].join('\n');
const NODE_CONNECT =
  "const s=require('net').connect({host:process.argv[1],port:+process.argv[2],timeout:+process.argv[3]*1000});" +
  "s.on('connect',()=>{console.log('open');process.exit(0)});" +
  "s.on('timeout',()=>{console.log('closed timeout');process.exit(1)});" +
  "s.on('error',e=>{console.log('closed',e.code);process.exit(1)});";

export type Runtime = 'python' | 'node';

/** Whether a TCP connection from inside the container to host:port opens within `seconds`. */
export async function canConnect(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, runtime: Runtime, host: string, port: number, seconds = 4): Promise<boolean> {
  const cmd = runtime === 'python' ? ['python3', '-c', PY_CONNECT, host, String(port), String(seconds)] : ['node', '-e', NODE_CONNECT, host, String(port), String(seconds)];
  const r = await execIn(kc, namespace, pod, container, cmd, (seconds + 20) * 1000);
  if (!/^(open|closed)/m.test(r.stdout)) throw new Error(`probe did not run in ${pod}/${container}: code ${r.code}, ${r.stdout} ${r.stderr}`);
  return r.code === 0;
}

/** Whether a name resolves inside the container (through the cluster DNS). */
export async function resolves(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, runtime: Runtime, name: string): Promise<boolean> {
  const cmd =
    runtime === 'python'
      ? ['python3', '-c', 'import socket,sys; print(socket.gethostbyname(sys.argv[1]))', name]
      : ['node', '-e', "require('dns').lookup(process.argv[1],(e,a)=>{if(e){console.log(e.code);process.exit(1)}console.log(a)})", name];
  return (await execIn(kc, namespace, pod, container, cmd)).code === 0;
}

/**
 * A probe pod: the fake upstream's image (it has node, and serves :8080 so it can be a target
 * too), with a restricted-compliant spec and only the labels given.
 */
export async function createProbePod(kc: k8s.KubeConfig, namespace: string, name: string, image: string, labels: Record<string, string>): Promise<k8s.V1Pod> {
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
  // A plain poll: this also runs in beforeAll hooks, where expect.poll is not allowed.
  const deadline = Date.now() + 90_000;
  let pod = await core.readNamespacedPod({ name, namespace });
  while (!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
    if (Date.now() > deadline) throw new Error(`probe pod ${namespace}/${name} not ready after 90 s: ${podState(pod).waitingOn}`);
    await new Promise((r) => setTimeout(r, 1000));
    pod = await core.readNamespacedPod({ name, namespace });
  }
  return pod;
}

export async function deletePod(kc: k8s.KubeConfig, namespace: string, name: string): Promise<void> {
  await kc.makeApiClient(k8s.CoreV1Api).deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
}
