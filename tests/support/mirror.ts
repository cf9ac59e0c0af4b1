// The registry mirror of `npm run test:mirror` (tests/mirror-run.ts), as its tests see it: one
// path prefix per upstream registry, as Harbor keeps one proxy project per registry.
export const MIRROR_PREFIXES: Record<string, string> = { 'docker.io': 'dockerhub', 'ghcr.io': 'ghcr', '*': 'mirror' };

/** The CHATSTACK_REGISTRY_MIRROR value for a mirror at `host` (host:port). */
export function mirrorSetting(host: string): string {
  return Object.entries(MIRROR_PREFIXES)
    .map(([registry, prefix]) => `${registry}=${host}/${prefix}`)
    .join(',');
}

/**
 * An image the mirror holds (as a multi-platform index) and the harness never loads into the
 * node: a pod running it proves the node pulls through its registries.yaml (the `*` mirror).
 */
export const MIRROR_PROBE = 'registry.k8s.io/pause:3.10';
