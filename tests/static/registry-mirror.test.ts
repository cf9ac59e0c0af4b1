// CHATSTACK_REGISTRY_MIRROR: one setting, read the same way for the harness's pulls and written
// as k3s's registries.yaml for the node's.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mirroredRef, MirrorSettingError, parseMirrors, registriesYaml, splitRef, usesHostAlias } from '../../lib/registry-mirror.ts';
import { nodeFiles, REGISTRIES_YAML, TRAEFIK_GATEWAY_CONFIG } from '../../dev/lib/cluster.ts';
import { upstreamRefs } from '../../dev/lib/image-mode.ts';

const CORP = 'docker.io=harbor.corp.example/dockerhub,ghcr.io=harbor.corp.example/ghcr,*=harbor.corp.example/all';

describe('the mirror setting', () => {
  it('maps registries to a mirror host and path prefix; a loopback mirror is plain HTTP', () => {
    expect(parseMirrors(CORP)).toEqual([
      { registry: 'docker.io', host: 'harbor.corp.example', prefix: 'dockerhub', insecure: false },
      { registry: 'ghcr.io', host: 'harbor.corp.example', prefix: 'ghcr', insecure: false },
      { registry: '*', host: 'harbor.corp.example', prefix: 'all', insecure: false },
    ]);
    expect(parseMirrors('docker.io=localhost:5001, ghcr.io=http://cache.lan:5000/gh/')).toEqual([
      { registry: 'docker.io', host: 'localhost:5001', prefix: '', insecure: true },
      { registry: 'ghcr.io', host: 'cache.lan:5000', prefix: 'gh', insecure: true },
    ]);
    expect(parseMirrors(undefined)).toEqual([]);
    expect(parseMirrors(' ')).toEqual([]);
  });

  it.each([
    ['harbor.corp.example', 'has no REGISTRY='],
    ['docker.io=', 'does not start with a host'],
    ['docker io=harbor', 'is not a registry host'],
    ['docker.io=harbor/Docker Hub', 'is not a repository path prefix'],
    ['docker.io=a,docker.io=b', 'docker.io is named twice'],
  ])('refuses %j, saying what is wrong and what is expected', (setting, why) => {
    expect(() => parseMirrors(setting)).toThrow(MirrorSettingError);
    expect(() => parseMirrors(setting)).toThrow(why);
    expect(() => parseMirrors(setting)).toThrow('REGISTRY=[http://]HOST[:PORT][/PREFIX]');
  });
});

describe('pulling through the mirror', () => {
  const mirrors = parseMirrors(CORP);

  it('splits references as registries see them (Docker Hub names gain library/)', () => {
    expect(splitRef('redis:8.0.4')).toEqual({ registry: 'docker.io', repository: 'library/redis', suffix: ':8.0.4' });
    expect(splitRef('rancher/k3s:v1.35.4-k3s1')).toEqual({ registry: 'docker.io', repository: 'rancher/k3s', suffix: ':v1.35.4-k3s1' });
    expect(splitRef('localhost:5001/x/y@sha256:ab')).toEqual({ registry: 'localhost:5001', repository: 'x/y', suffix: '@sha256:ab' });
    expect(splitRef('registry.k8s.io/kube-state-metrics/kube-state-metrics')).toEqual({
      registry: 'registry.k8s.io',
      repository: 'kube-state-metrics/kube-state-metrics',
      suffix: '',
    });
  });

  it('asks the mirror for every upstream image the stack runs, under its prefix', () => {
    const pulls = upstreamRefs().map((r) => mirroredRef(r, mirrors));
    for (const p of pulls) expect(p).toMatch(/^harbor\.corp\.example\/(dockerhub|ghcr|all)\/[a-z0-9]/);
    expect(mirroredRef('redis:8.0.4', mirrors)).toBe('harbor.corp.example/dockerhub/library/redis:8.0.4');
    expect(mirroredRef('ghcr.io/open-webui/open-webui:v0.12.4', mirrors)).toBe('harbor.corp.example/ghcr/open-webui/open-webui:v0.12.4');
    expect(mirroredRef('quay.io/a/b@sha256:01', mirrors)).toBe('harbor.corp.example/all/a/b@sha256:01');
  });

  it('leaves a registry without a mirror (and no wildcard) alone', () => {
    expect(mirroredRef('ghcr.io/dexidp/dex:v2', parseMirrors('docker.io=localhost:5001'))).toBe('ghcr.io/dexidp/dex:v2');
    expect(mirroredRef('redis:8', [])).toBe('redis:8');
  });
});

describe("the node's registries.yaml", () => {
  it("is k3s's format: an endpoint per registry, the prefix as a rewrite of the whole name", () => {
    expect(parse(registriesYaml(parseMirrors(CORP)))).toEqual({
      mirrors: {
        'docker.io': { endpoint: ['https://harbor.corp.example'], rewrite: { '^(.*)$': 'dockerhub/$1' } },
        'ghcr.io': { endpoint: ['https://harbor.corp.example'], rewrite: { '^(.*)$': 'ghcr/$1' } },
        '*': { endpoint: ['https://harbor.corp.example'], rewrite: { '^(.*)$': 'all/$1' } },
      },
    });
    expect(usesHostAlias(parseMirrors(CORP))).toBe(false);
  });

  it("reaches a mirror on the host's loopback as host.docker.internal, over plain HTTP", () => {
    const mirrors = parseMirrors('docker.io=localhost:5001/hub,ghcr.io=127.0.0.1:5001');
    expect(parse(registriesYaml(mirrors))).toEqual({
      mirrors: {
        'docker.io': { endpoint: ['http://host.docker.internal:5001'], rewrite: { '^(.*)$': 'hub/$1' } },
        'ghcr.io': { endpoint: ['http://host.docker.internal:5001'] },
      },
    });
    expect(usesHostAlias(mirrors)).toBe(true);
  });

  it('goes into the node with the Traefik Gateway config only when a mirror is set', () => {
    expect(nodeFiles([]).map((f) => f.target)).toEqual([TRAEFIK_GATEWAY_CONFIG.target]);
    expect(nodeFiles(parseMirrors(CORP)).map((f) => f.target)).toEqual([TRAEFIK_GATEWAY_CONFIG.target, REGISTRIES_YAML]);
    const config = parse(TRAEFIK_GATEWAY_CONFIG.content) as { kind: string; metadata: object; spec: { valuesContent: string } };
    expect([config.kind, config.metadata]).toEqual(['HelmChartConfig', { name: 'traefik', namespace: 'kube-system' }]);
    expect(parse(config.spec.valuesContent)).toEqual({ providers: { kubernetesGateway: { enabled: true } } });
  });
});
