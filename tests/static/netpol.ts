// A small NetworkPolicy evaluator: given the rendered policies, is a connection allowed?
// It follows the API's semantics (a pod is isolated in a direction once any policy of that
// type selects it; then only the union of rules allows), so the static tier can check the
// flow matrix that the live tier later probes for real.
import type { KubeObject } from '../../lib/kustomize.ts';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PortRule {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: PortRule[];
}
interface PolicySpec {
  podSelector: LabelSelector;
  policyTypes?: ('Ingress' | 'Egress')[];
  ingress?: Rule[];
  egress?: Rule[];
}

/** A pod in the cluster, or an address outside it (no namespace). */
export interface Endpoint {
  namespace?: string;
  labels?: Record<string, string>;
  namespaceLabels?: Record<string, string>;
  ip: string;
}

export function selects(sel: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = k(e.key);
    const ok =
      e.operator === 'Exists'
        ? has
        : e.operator === 'DoesNotExist'
          ? !has
          : e.operator === 'In'
            ? has && (e.values ?? []).includes(labels[e.key]!)
            : !has || !(e.values ?? []).includes(labels[e.key]!);
    if (!ok) return false;
  }
  return true;
  function k(key: string): boolean {
    return Object.hasOwn(labels, key);
  }
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const a = ipv4ToInt(ip);
  const b = ipv4ToInt(net!);
  if (a === undefined || b === undefined) return false; // IPv6 peers never match IPv4 endpoints
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a & mask) === (b & mask);
}

function peerMatches(peer: Peer, policyNs: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
  }
  if (other.namespace === undefined) return false; // selectors only ever match pods
  if (peer.namespaceSelector) {
    if (!selects(peer.namespaceSelector, other.namespaceLabels)) return false;
  } else if (other.namespace !== policyNs) {
    return false;
  }
  return selects(peer.podSelector, other.labels);
}

function portMatches(ports: PortRule[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') return false; // named ports are not used by this project
    return p.endPort ? port >= p.port && port <= p.endPort : port === p.port;
  });
}

function typesOf(spec: PolicySpec): string[] {
  return spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

export function policiesOf(objects: KubeObject[]): KubeObject[] {
  return objects.filter((o) => o.kind === 'NetworkPolicy');
}

function sideAllows(
  policies: KubeObject[],
  self: Endpoint,
  other: Endpoint,
  dir: 'Ingress' | 'Egress',
  port: number,
  protocol: string,
): boolean {
  if (self.namespace === undefined) return true; // the outside world has no policies
  const relevant = policies.filter((p) => {
    const spec = p['spec'] as PolicySpec;
    return p.metadata.namespace === self.namespace && typesOf(spec).includes(dir) && selects(spec.podSelector, self.labels);
  });
  if (relevant.length === 0) return true; // not isolated in this direction
  return relevant.some((p) => {
    const spec = p['spec'] as PolicySpec;
    const rules = (dir === 'Ingress' ? spec.ingress : spec.egress) ?? [];
    return rules.some((r) => {
      const peers = dir === 'Ingress' ? r.from : r.to;
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, p.metadata.namespace!, other));
      return peerOk && portMatches(r.ports, port, protocol);
    });
  });
}

/** Whether `from` may open a connection to `to` on `port`, under the given policies. */
export function allowed(policies: KubeObject[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  return sideAllows(policies, from, to, 'Egress', port, protocol) && sideAllows(policies, to, from, 'Ingress', port, protocol);
}
