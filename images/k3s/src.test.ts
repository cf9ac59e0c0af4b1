// The node's Go unit tests (src/nodeconfig: what it makes of its configuration files, a package
// without Kubernetes, so the test binary builds in seconds even with empty Go caches; in package
// main it linked all of Kubernetes, 185 s of a fresh run on 2026-12-07): registries.yaml -> containerd hosts.toml (plain, http and wildcard mirrors, the
// prefix rewrite as override_path, unsupported rewrites refused, TLS, credentials), and the
// traefik add-on as staged: no Gateway provider by default (k3s's default; node.test.ts boots
// with the HelmChartConfig that turns it on), the provider's objects when it is on, the
// HelmChartConfig's reading, and helm.cattle.io's CRDs.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SRC = join(import.meta.dirname, 'src');

describe('k3s node configuration (images/k3s/src/nodeconfig), Go unit tests', () => {
  it('pass, the registries.yaml and Traefik default checks among them', { timeout: 300_000 }, async () => {
    const env = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '', CGO_ENABLED: '0', GOGC: '400' };
    let out: string;
    try {
      ({ stdout: out } = await run('go', ['test', '-count=1', '-v', './nodeconfig'], {
        cwd: SRC,
        env,
        maxBuffer: 64 * 1024 * 1024,
      }));
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw new Error(`go test in ${SRC} failed (it needs Go, as prepare.sh does): ${err.message}\n${(err.stdout ?? '').slice(-8000)}`);
    }
    for (const test of [
      'TestTraefikDefaultHasNoGatewayProvider',
      'TestTraefikGatewayProviderRendered',
      'TestReadTraefikConfig',
      'TestHelmCRDs',
      'TestRegistriesPlainEndpoint',
      'TestRegistriesHTTPEndpoint',
      'TestRegistriesPrefixRewrite',
      'TestRegistriesWildcard',
      'TestRegistriesUnsupportedRewrite',
      'TestRegistriesTLS',
      'TestCRIRegistryAuth',
      'TestWriteRegistryConfig',
    ])
      expect(out, test).toMatch(new RegExp(`^--- PASS: ${test} `, 'm'));
    expect(out).toMatch(/^ok\s+chatstack\.local\/k3s\/nodeconfig\s/m);
  });
});
