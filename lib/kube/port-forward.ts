// Port-forwarding a Service to a local port through the Kubernetes API's pod port-forward
// websocket. Each local connection gets its own tunnel to a ready pod found afresh, so the forward
// survives the pod being restarted or replaced (the "reconnect" kubectl port-forward lacks).
//
// The tunnel is client-node's PortForward.portForward (kubeconfig auth, TLS, the channel framing),
// but the connection's lifecycle is handled here, because PortForward carries no close: its
// WebSocketHandler.connect installs no close handler and the message handler only ever writes to
// `output`, so when the pod ends a connection (an idle keep-alive timeout, a pod going away) the
// local socket stays open and the client's next request goes into a dead tunnel. Its input
// handling closes the whole tunnel when the client merely half-closes, and neither direction has
// back-pressure. So the local socket is never handed to it as `input` (we send on the websocket
// ourselves) and the websocket's close and errors are watched here.
//
// The protocol (kubelet/containerd streaming server, subprotocol v4.channel.k8s.io): binary
// messages whose first byte is the channel, 0 = data and 1 = error for the (single) port, each
// channel starting with the port number. The server closes the websocket when its connection to
// the pod ends, after writing the reason to the error channel if that was a failure (refused,
// reset). It has no frame for a half-close.
import * as k8s from '@kubernetes/client-node';
import net from 'node:net';
import { isPodReady } from './pod.ts';
import { PassThrough, Writable } from 'node:stream';

export interface Forward {
  service: string;
  namespace: string;
  localPort: number;
  targetPort: number;
  url: string;
  /** Open local connections and tunnels (opening or open) right now; both 0 when idle. */
  connections(): { sockets: number; tunnels: number };
  /** Stops listening and ends every connection and tunnel; resolves once they are gone. */
  close(): Promise<void>;
}

export interface ForwardOptions {
  localPort?: number;
  servicePort?: number;
  /** Always this pod of the Service (talk to one replica), instead of any ready one. */
  pod?: string;
  /** One line per failed connection (the client sees a reset). */
  log?: (line: string) => void;
  /**
   * A client's FIN cannot be passed on (the protocol has no half-close), and it cannot be told
   * from a full close. So after it the tunnel stays open while the pod is still sending (a
   * half-closing client gets the rest of its response) and is closed once the pod has sent
   * nothing for this long: a closed idle connection, or a server waiting for an end of input it
   * will never see, does not hold a tunnel. kubectl port-forward cuts after 1 s however busy the
   * pod is (containerd's grace). Default 5 s.
   */
  halfClosedIdleMs?: number;
}

export class PortInUseError extends Error {
  constructor(port: number) {
    super(
      `Local port ${port} is already in use. Stop whatever listens there (\`ss -ltnp 'sport = :${port}'\` shows it) or choose another port.`,
    );
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
  const selector = labelSelector(svc);
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  for (const pod of pods) {
    for (const c of pod.spec?.containers ?? []) {
      const p = c.ports?.find((cp) => cp.name === target);
      if (p) return p.containerPort;
    }
  }
  throw new Error(`Service ${namespace}/${service}: no pod has a container port named "${target}"`);
}

function labelSelector(svc: k8s.V1Service): string {
  return Object.entries(svc.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** What is used of the `ws` WebSocket that PortForward returns (the project has no @types/ws). */
interface Tunnel {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Buffer, cb?: (err?: Error) => void): void;
  close(code?: number): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
const WS_OPEN = 1;
const WS_CLOSING = 2;
const WS_CLOSED = 3;
/** How long a closing tunnel waits for the API server's close frame before its connection is dropped. */
const CLOSE_GRACE_MS = 3_000;
/** Client bytes queued towards the API server before the client socket is paused. */
const HIGH_WATER = 1 << 20;

/**
 * Forwards 127.0.0.1:localPort (0 = any free port) to the Service's port. Every close, reset or
 * error on one side is carried to the other: the pod closing ends the local socket once what it
 * sent is written; a tunnel failure resets the local socket; the client closing or resetting
 * closes the tunnel. A client's half-close keeps the tunnel, so the rest of the response arrives.
 */
export async function forwardService(kc: k8s.KubeConfig, namespace: string, service: string, opts: ForwardOptions = {}): Promise<Forward> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const svc = await core.readNamespacedService({ name: service, namespace });
  const selector = labelSelector(svc);
  if (!selector) throw new Error(`Service ${namespace}/${service} has no selector: nothing to forward to`);
  const targetPort = await resolveTargetPort(kc, namespace, service, opts.servicePort);
  const halfClosedIdleMs = opts.halfClosedIdleMs ?? 5_000;
  const log = (line: string) => opts.log?.(`port-forward ${service}:${targetPort}: ${line}`);
  const pf = new k8s.PortForward(kc, true);

  const sockets = new Set<net.Socket>();
  const tunnels = new Set<Tunnel>();
  let opening = 0;
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (sockets.size > 0 || tunnels.size > 0 || opening > 0) return;
    for (const w of waiters) w();
    waiters = [];
  };

  // A ready pod that is not being deleted: a terminating pod can stay Ready for a while, and new
  // connections must go to its replacement (client-node's getFirstReadyPod does not check this).
  // Looked up afresh for each connection; connections arriving together share one lookup.
  let lookup: Promise<string> | undefined;
  const readyPod = (): Promise<string> => (lookup ??= findReadyPod().finally(() => (lookup = undefined)));
  const findReadyPod = async (): Promise<string> => {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    const ready = pods
      .filter((p) => !p.metadata?.deletionTimestamp && isPodReady(p) && (!opts.pod || p.metadata?.name === opts.pod))
      .map((p) => p.metadata!.name!)
      .sort();
    if (ready.length === 0) {
      const states = pods
        .map((p) => `${p.metadata?.name} ${p.metadata?.deletionTimestamp ? 'terminating' : (p.status?.phase ?? '?')}`)
        .join(', ');
      throw new Error(`no ready pod ${opts.pod ? `named ${opts.pod} ` : ''}behind the Service (${states || 'no pods'})`);
    }
    return ready[0]!;
  };

  const handle = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let tunnel: Tunnel | undefined;
    let pod = '';
    let errorText = '';
    let halfClosedTimer: NodeJS.Timeout | undefined;

    const closeTunnel = () => {
      if (!tunnel || tunnel.readyState >= WS_CLOSING) return;
      const t = tunnel;
      t.close(1000);
      // The close handshake waits for the API server's answer (ws gives it 30 s); a busy server
      // would hold a tunnel nobody uses that long. Past the grace, the connection is dropped.
      setTimeout(() => {
        if (t.readyState !== WS_CLOSED) t.terminate();
      }, CLOSE_GRACE_MS).unref();
    };
    const armHalfClosedTimer = () => {
      clearTimeout(halfClosedTimer);
      halfClosedTimer = setTimeout(closeTunnel, halfClosedIdleMs);
    };
    // The client reset or broke the connection: it is gone, so is the tunnel ('close' follows).
    socket.on('error', () => socket.destroy());
    // Half-close: the tunnel stays so the response still arrives (see halfClosedIdleMs). Listened
    // for from the start: a client that sends nothing and closes at once ends before its tunnel
    // is open.
    let clientEnded = false;
    socket.on('end', () => {
      clientEnded = true;
      if (tunnel) armHalfClosedTimer();
    });
    socket.once('close', () => {
      sockets.delete(socket);
      clearTimeout(halfClosedTimer);
      closeTunnel();
      settle();
    });

    // Channel 0 (the pod's bytes, port prefix already stripped by PortForward): to the client,
    // pausing the websocket while the client does not keep up.
    let waitingForDrain = false;
    const output = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (halfClosedTimer) armHalfClosedTimer();
        if (socket.destroyed) return cb();
        if (!socket.write(chunk) && tunnel && !waitingForDrain) {
          const t = tunnel;
          waitingForDrain = true;
          t.pause();
          socket.once('drain', () => {
            waitingForDrain = false;
            t.resume();
          });
        }
        cb();
      },
    });
    // Channel 1: why the connection to the pod failed, if it did.
    const errors = new Writable({
      write(chunk: Buffer, _enc, cb) {
        errorText += chunk.toString('utf8');
        cb();
      },
    });
    // Never written nor ended: PortForward would close the whole tunnel on its end.
    const input = new PassThrough();

    const onTunnelClosed = () => {
      clearTimeout(halfClosedTimer);
      if (socket.destroyed) return;
      if (errorText) {
        log(`connection to ${pod} failed: ${errorText}`);
        socket.resetAndDestroy();
      } else {
        socket.destroySoon(); // what the pod sent is written first, then the close
      }
    };

    opening++;
    readyPod()
      .then((name) => {
        pod = name;
        return pf.portForward(namespace, name, [targetPort], output, errors, input) as Promise<Tunnel>;
      })
      .then(
        (ws) => {
          opening--;
          tunnel = ws;
          tunnels.add(ws);
          const closed = () => {
            if (!tunnels.delete(ws)) return;
            onTunnelClosed();
            settle();
          };
          ws.on('error', (err) => {
            errorText ||= err.message;
          });
          ws.on('close', closed);
          if (ws.readyState === WS_CLOSED) return closed();
          // Gone, or ended with nothing to send ('end' comes only once all data is read, and
          // nothing has read it yet): nothing to forward.
          if (socket.destroyed || clientEnded) return closeTunnel();
          socket.on('data', (chunk: Buffer) => {
            if (ws.readyState !== WS_OPEN) return; // the tunnel is closing: the socket follows
            const frame = Buffer.allocUnsafe(chunk.length + 1);
            frame[0] = 0; // channel 0: data for the pod
            chunk.copy(frame, 1);
            ws.send(frame, () => {
              if (socket.isPaused() && ws.bufferedAmount < HIGH_WATER / 2) socket.resume();
            });
            if (ws.bufferedAmount > HIGH_WATER) socket.pause();
          });
        },
        (err: unknown) => {
          opening--;
          const e = err as { message?: string; error?: Error };
          log(`${pod ? `cannot open a tunnel to ${pod}` : 'cannot pick a pod'}: ${e.error?.message ?? e.message ?? String(err)}`);
          if (!socket.destroyed) socket.resetAndDestroy();
          settle();
        },
      );
  };

  // allowHalfOpen: a client's half-close must not end our writing side (the response follows).
  const server = net.createServer({ allowHalfOpen: true }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(opts.localPort ?? 0) : err));
    server.listen(opts.localPort ?? 0, '127.0.0.1', () => resolve());
  });
  server.on('error', (err) => log(`listener: ${err.message}`));
  const localPort = (server.address() as net.AddressInfo).port;
  return {
    service,
    namespace,
    localPort,
    targetPort,
    url: `http://127.0.0.1:${localPort}`,
    connections: () => ({ sockets: sockets.size, tunnels: tunnels.size + opening }),
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      for (const t of tunnels) t.terminate();
      // Tunnels still opening are closed as soon as they open (their socket is gone).
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        settle();
      });
      await stopped;
    },
  };
}
