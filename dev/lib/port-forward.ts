// Port-forwarding a Service to a local port with client-node's PortForward. Each incoming
// connection resolves a ready pod behind the Service afresh, so the forward survives the pod
// being restarted or replaced (the "reconnect" kubectl port-forward lacks).
import * as k8s from '@kubernetes/client-node';
import net from 'node:net';

export interface Forward {
  service: string;
  namespace: string;
  localPort: number;
  targetPort: number;
  url: string;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  constructor(port: number) {
    super(`Local port ${port} is already in use. Stop whatever listens there (\`ss -ltnp 'sport = :${port}'\` shows it) or choose another port.`);
    this.name = 'PortInUseError';
  }
}

/** Fails fast, before anything starts, when a chosen local port is taken. */
export async function assertPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** The container port a Service port leads to (a named targetPort is looked up in a pod). */
export async function resolveTargetPort(kc: k8s.KubeConfig, namespace: string, service: string, servicePort?: number): Promise<number> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const svc = await core.readNamespacedService({ name: service, namespace });
  const ports = svc.spec?.ports ?? [];
  const port = servicePort === undefined ? ports[0] : ports.find((p) => p.port === servicePort);
  if (!port) throw new Error(`Service ${namespace}/${service} has no port ${servicePort ?? ''}`);
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  for (const pod of pods) {
    for (const c of pod.spec?.containers ?? []) {
      const p = c.ports?.find((cp) => cp.name === target);
      if (p) return p.containerPort;
    }
  }
  throw new Error(`Service ${namespace}/${service}: no pod has a container port named "${target}"`);
}

/**
 * Forwards 127.0.0.1:localPort (0 = any free port) to the Service's port.
 * `log` receives one line per failed connection (the client sees a reset).
 */
export async function forwardService(
  kc: k8s.KubeConfig,
  namespace: string,
  service: string,
  opts: { localPort?: number; servicePort?: number; log?: (line: string) => void } = {},
): Promise<Forward> {
  const targetPort = await resolveTargetPort(kc, namespace, service, opts.servicePort);
  const pf = new k8s.PortForward(kc, true);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A pod going away resets its connections; that ends this socket, not the process.
    socket.on('error', (err) => {
      opts.log?.(`port-forward ${service}:${targetPort}: connection ended (${(err as NodeJS.ErrnoException).code ?? err.message})`);
      socket.destroy();
    });
    pf.portForwardService(namespace, service, [targetPort], socket, null, socket).then(
      (ws) => {
        const conn = typeof ws === 'function' ? ws() : ws;
        conn?.on('error', () => socket.destroy());
        socket.once('close', () => conn?.close());
      },
      (err: unknown) => {
        opts.log?.(`port-forward ${service}:${targetPort}: ${(err as Error).message}`);
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(opts.localPort ?? 0) : err));
    server.listen(opts.localPort ?? 0, '127.0.0.1', () => resolve());
  });
  const localPort = (server.address() as net.AddressInfo).port;
  return {
    service,
    namespace,
    localPort,
    targetPort,
    url: `http://127.0.0.1:${localPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
