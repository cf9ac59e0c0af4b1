// Registry mirrors, as enterprises and air-gapped sites run them (Harbor, Artifactory, a
// pull-through cache): CHATSTACK_REGISTRY_MIRROR maps each upstream registry to a mirror host and
// path prefix, e.g.
//   CHATSTACK_REGISTRY_MIRROR=docker.io=harbor.corp/dockerhub,ghcr.io=harbor.corp/ghcr,*=harbor.corp/all
// One setting serves both pullers: the harness's own pulls (Docker pulls the mirror's name and
// tags it with the upstream one) and the node's (written into k3s's registries.yaml, so the
// add-ons and anything a manifest names come through the mirror too).
import { stringify } from 'yaml';
import { dockerTry, tryPull, type DockerResult } from './docker.ts';

export const MIRROR_ENV = 'CHATSTACK_REGISTRY_MIRROR';

export interface Mirror {
  /** the upstream registry (`docker.io`, `ghcr.io`, ...) or `*` for every registry not named */
  registry: string;
  /** `host[:port]` of the mirror */
  host: string;
  /** the path prefix the mirror keeps that registry's repositories under ('' for none) */
  prefix: string;
  /** plain HTTP: said explicitly (`http://`), or a loopback mirror (Docker's rule too) */
  insecure: boolean;
}

export class MirrorSettingError extends Error {
  constructor(detail: string) {
    super(
      `${MIRROR_ENV}: ${detail}. Expected comma-separated REGISTRY=[http://]HOST[:PORT][/PREFIX] entries, ` +
        `e.g. docker.io=harbor.corp/dockerhub,ghcr.io=harbor.corp/ghcr (REGISTRY may be * for every other registry).`,
    );
    this.name = 'MirrorSettingError';
  }
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?$/;

/** The mirrors a setting names (none when unset); throws MirrorSettingError on a malformed one. */
export function parseMirrors(setting: string | undefined): Mirror[] {
  if (!setting?.trim()) return [];
  const mirrors: Mirror[] = [];
  for (const entry of setting
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new MirrorSettingError(`"${entry}" has no REGISTRY=`);
    const registry = entry.slice(0, eq).trim();
    let target = entry.slice(eq + 1).trim();
    if (registry !== '*' && !/^[a-z0-9.-]+(:\d+)?$/i.test(registry)) throw new MirrorSettingError(`"${registry}" is not a registry host`);
    if (mirrors.some((m) => m.registry === registry)) throw new MirrorSettingError(`${registry} is named twice`);
    const scheme = /^(https?):\/\//i.exec(target);
    if (scheme) target = target.slice(scheme[0].length);
    const slash = target.indexOf('/');
    const host = slash < 0 ? target : target.slice(0, slash);
    const prefix = slash < 0 ? '' : target.slice(slash + 1).replace(/\/+$/, '');
    if (!/^([a-z0-9.-]+|\[[0-9a-f:]+\])(:\d+)?$/i.test(host)) throw new MirrorSettingError(`"${target}" does not start with a host`);
    if (prefix && !/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(prefix))
      throw new MirrorSettingError(`"${prefix}" is not a repository path prefix (lower case, / separated)`);
    mirrors.push({ registry, host, prefix, insecure: scheme ? scheme[1]!.toLowerCase() === 'http' : LOOPBACK.test(host) });
  }
  return mirrors;
}

/** A reference split as registries see it: `redis:8` -> docker.io, `library/redis`, `:8`. */
export function splitRef(ref: string): { registry: string; repository: string; suffix: string } {
  const first = ref.split('/')[0]!;
  const hasRegistry = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : 'docker.io';
  let rest = hasRegistry ? ref.slice(first.length + 1) : ref;
  const at = rest.indexOf('@');
  const colon = rest.lastIndexOf(':');
  const cut = at >= 0 ? at : colon > rest.lastIndexOf('/') ? colon : rest.length;
  const suffix = rest.slice(cut);
  rest = rest.slice(0, cut);
  const repository = registry === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
  return { registry, repository, suffix };
}

/** The mirror that serves a registry: its own entry, else `*`, else none. */
export function mirrorFor(registry: string, mirrors: Mirror[]): Mirror | undefined {
  return mirrors.find((m) => m.registry === registry) ?? mirrors.find((m) => m.registry === '*');
}

/** The reference to pull instead of `ref` (`rancher/k3s:v1` -> `harbor.corp/dockerhub/rancher/k3s:v1`), or `ref` itself. */
export function mirroredRef(ref: string, mirrors: Mirror[]): string {
  const { registry, repository, suffix } = splitRef(ref);
  const m = mirrorFor(registry, mirrors);
  if (!m) return ref;
  return `${m.host}/${m.prefix ? `${m.prefix}/` : ''}${repository}${suffix}`;
}

/** Where a node container reaches the host's loopback: Docker's name for the host, mapped to the host gateway. */
export const NODE_HOST_ALIAS = 'host.docker.internal';

/**
 * k3s's /etc/rancher/k3s/registries.yaml for the mirrors: an endpoint each, its path prefix as a
 * rewrite (k3s's way to put a mirror's repositories under a project). A loopback mirror is the
 * host's, reached from inside the node container as NODE_HOST_ALIAS (the node needs
 * `--add-host host.docker.internal:host-gateway`, which `usesHostAlias` says).
 */
export function registriesYaml(mirrors: Mirror[]): string {
  const entries = mirrors.map((m) => {
    const host = LOOPBACK.test(m.host) ? m.host.replace(/^\[::1\]|^[^:]+/, NODE_HOST_ALIAS) : m.host;
    const mirror: Record<string, unknown> = { endpoint: [`${m.insecure ? 'http' : 'https'}://${host}`] };
    if (m.prefix) mirror['rewrite'] = { '^(.*)$': `${m.prefix}/$1` };
    return [m.registry, mirror] as const;
  });
  return stringify({ mirrors: Object.fromEntries(entries) });
}

export function usesHostAlias(mirrors: Mirror[]): boolean {
  return mirrors.some((m) => LOOPBACK.test(m.host));
}

/** The mirrors of this process's environment. */
export function configuredMirrors(env: NodeJS.ProcessEnv = process.env): Mirror[] {
  return parseMirrors(env[MIRROR_ENV]);
}

/**
 * `docker pull` of an upstream reference through its mirror, then tagged with the upstream name
 * (what the manifests and the node ask for); without a mirror, a plain pull. Never throws.
 */
export async function pullUpstream(
  ref: string,
  timeoutMs: number,
  mirrors: Mirror[] = configuredMirrors(),
): Promise<DockerResult & { timedOut: boolean; from: string }> {
  const from = mirroredRef(ref, mirrors);
  const pulled = await tryPull(from, timeoutMs);
  if (pulled.code !== 0 || from === ref) return { ...pulled, from };
  const tagged = await dockerTry('tag', from, ref);
  return { ...tagged, timedOut: false, from };
}
