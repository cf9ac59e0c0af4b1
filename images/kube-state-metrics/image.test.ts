// The kube-state-metrics image (images/kube-state-metrics) as upstream's
// registry.k8s.io/kube-state-metrics/kube-state-metrics: UID 65534, /kube-state-metrics serving
// metrics on 8080 and its own telemetry on 8081. Its live use (scraped beside LiteLLM, the pod
// alerts firing) is in tests/integration/monitoring.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureImages, type EnsureResult } from '../factory/build.ts';
import { docker, imageConfig } from '../../lib/docker.ts';

describe('images/kube-state-metrics: kube-state-metrics', { timeout: 120_000 }, () => {
  let build: EnsureResult;

  beforeAll(async () => {
    [build] = (await ensureImages(['kube-state-metrics'])).filter((r) => r.name === 'kube-state-metrics');
    console.log(`kube-state-metrics image (not asserted): ${build!.ref} ${(build!.sizeBytes / 1e6).toFixed(1)} MB`);
  }, 30 * 60_000);

  it("keeps upstream's run-time contract: UID 65534, /kube-state-metrics on ports 8080 and 8081", async () => {
    const cfg = await imageConfig(build.ref);
    expect(cfg.User).toBe('65534:65534');
    expect(cfg.Entrypoint).toEqual(['/kube-state-metrics', '--port=8080', '--telemetry-port=8081']);
    expect(Object.keys(cfg.ExposedPorts ?? {}).sort()).toEqual(['8080/tcp', '8081/tcp']);
  });

  it('is release v2.20.0', async () => {
    const out = await docker('run', '--rm', '--network', 'none', '--entrypoint', '/kube-state-metrics', build.ref, 'version');
    expect(out).toMatch(/v2\.20\.0/);
  });
});
