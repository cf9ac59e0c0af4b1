// A client of the node's gateway (k3s's Traefik) the way a user's machine is one: the public
// host name resolves to this machine (a port-forward to Traefik's Service), TLS is verified
// against the overlay's local CA, and SNI and Host carry the public name, so Traefik routes by
// them exactly as it would for https://chat.localhost.
import type { LookupFunction } from 'node:net';
import { Agent as HttpsAgent } from 'node:https';
import { Agent, fetch as undiciFetch } from 'undici';
import type * as k8s from '@kubernetes/client-node';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';

/** k3s's Traefik: its Service, its namespace, and its proxy pods' name label. */
export const TRAEFIK = { namespace: 'kube-system', service: 'traefik', podName: 'traefik' } as const;

export interface GatewayClient {
  /** https://<host>:<forwarded 443> */
  httpsOrigin: string;
  /** http://<host>:<forwarded 80> */
  httpOrigin: string;
  /** fetch through the forwards, the CA trusted, redirects not followed */
  fetch: typeof fetch;
  /** the same for a host the certificate is not for: TLS is not verified (only the routing is tested) */
  fetchUnverified: typeof fetch;
  /** for clients that take a Node agent (socket.io) */
  httpsAgent: HttpsAgent;
  close(): Promise<void>;
}

/** Every name resolves to the loopback address the forwards listen on. */
const loopback: LookupFunction = (_host, opts, cb) => {
  if ((opts as { all?: boolean }).all)
    (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

/** A local port free right now (the HTTPS forward's, when the public origin must name it in advance). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function gatewayClient(
  kc: k8s.KubeConfig,
  host: string,
  ca: string,
  opts: { httpsPort?: number } = {},
): Promise<GatewayClient> {
  const forwards: Forward[] = await Promise.all(
    [443, 80].map((servicePort) =>
      forwardService(kc, TRAEFIK.namespace, TRAEFIK.service, {
        servicePort,
        ...(servicePort === 443 && opts.httpsPort ? { localPort: opts.httpsPort } : {}),
      }),
    ),
  );
  const [tls, plain] = forwards as [Forward, Forward];
  const verified = new Agent({ connect: { ca, lookup: loopback } });
  const unverified = new Agent({ connect: { rejectUnauthorized: false, lookup: loopback } });
  const through = (dispatcher: Agent) =>
    ((input: string | URL, init: RequestInit = {}) =>
      undiciFetch(input, { ...(init as object), redirect: 'manual', dispatcher })) as unknown as typeof fetch;
  return {
    httpsOrigin: `https://${host}:${tls.localPort}`,
    httpOrigin: `http://${host}:${plain.localPort}`,
    fetch: through(verified),
    fetchUnverified: through(unverified),
    httpsAgent: new HttpsAgent({ ca, lookup: loopback }),
    close: async () => {
      await Promise.all([verified.close(), unverified.close(), ...forwards.map((f) => f.close())]);
    },
  };
}
