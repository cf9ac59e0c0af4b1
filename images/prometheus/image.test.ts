// The Prometheus image (images/prometheus) as upstream's prom/prometheus runs: UID 65534, the
// /bin/prometheus entrypoint with the example config and /prometheus as data, read-only root with
// data on a tmpfs, no capabilities. It becomes ready, scrapes itself (the example config's one job)
// and answers PromQL; promtool from the same build is in the image. Prints the start-to-ready time
// and the image size (not asserted).
import { Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImages, type EnsureResult } from '../factory/build.ts';
import { docker, imageConfig } from '../../lib/docker.ts';
import { lockedDownContainer, useLocalRyuk } from '../factory/testcontainers.ts';
import { waitUntil } from '../../lib/wait.ts';

const PORT = 9090;

describe('images/prometheus: Prometheus and promtool', { timeout: 120_000 }, () => {
  let build: EnsureResult;
  let prom: StartedTestContainer;
  let base = '';

  beforeAll(async () => {
    [build] = (await ensureImages(['prometheus'])).filter((r) => r.name === 'prometheus');
    await useLocalRyuk({ build: true });
    const t0 = Date.now();
    prom = await lockedDownContainer(build!.ref)
      .withTmpFs({ '/prometheus': 'rw,uid=65534,gid=65534' })
      .withExposedPorts(PORT)
      .withWaitStrategy(Wait.forHttp('/-/ready', PORT))
      .withStartupTimeout(60_000)
      .start();
    base = `http://${prom.getHost()}:${prom.getMappedPort(PORT)}`;
    console.log(
      `prometheus image (not asserted): ${build!.ref} ${(build!.sizeBytes / 1e6).toFixed(1)} MB, ready after ${Date.now() - t0} ms`,
    );
  }, 30 * 60_000);

  afterAll(async () => {
    await prom?.stop().catch(() => {});
  });

  it("keeps upstream's run-time contract: UID 65534, the entrypoint, its default arguments, port 9090", async () => {
    const cfg = await imageConfig(build.ref);
    expect(cfg.User).toBe('65534:65534');
    expect(cfg.Entrypoint).toEqual(['/bin/prometheus']);
    expect(cfg.Cmd).toEqual(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus']);
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual([`${PORT}/tcp`]);
    expect(cfg.WorkingDir).toBe('/prometheus');
  });

  it('is release 3.16.0 with Kubernetes service discovery, and promtool of the same build', async () => {
    const info = (await (await fetch(`${base}/api/v1/status/buildinfo`)).json()) as { data: { version: string } };
    expect(info.data.version).toBe('3.16.0');
    const v = await docker('run', '--rm', '--network', 'none', '--entrypoint', '/bin/promtool', build.ref, '--version');
    expect(v).toMatch(/promtool, version 3\.16\.0/);
    expect(v).toMatch(/tags:\s+remove_all_sd,enable_kubernetes_sd,netgo/);
  });

  it('scrapes itself and answers PromQL', async () => {
    const up = await waitUntil(
      'its own target scraped',
      async () => {
        const r = (await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent('up{job="prometheus"}')}`)).json()) as {
          data: { result: { value: [number, string] }[] };
        };
        return r.data.result[0]?.value[1];
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(up).toBe('1');
  });
});
