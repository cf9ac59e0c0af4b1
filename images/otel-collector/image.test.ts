// The OpenTelemetry Collector image (images/otel-collector) as upstream's
// otel/opentelemetry-collector runs: UID 10001, /otelcol with its default config, read-only root,
// no capabilities. It lists the components it was built with and starts its pipelines. Prints the
// start-to-ready time and the image size (not asserted).
import { Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureImages, type EnsureResult } from '../factory/build.ts';
import { docker, imageConfig } from '../../lib/docker.ts';
import { lockedDownContainer, useLocalRyuk } from '../factory/testcontainers.ts';

describe('images/otel-collector: an OpenTelemetry Collector', { timeout: 120_000 }, () => {
  let build: EnsureResult;
  let collector: StartedTestContainer;

  beforeAll(async () => {
    [build] = (await ensureImages(['otel-collector'])).filter((r) => r.name === 'otel-collector');
    await useLocalRyuk({ build: true });
    const t0 = Date.now();
    collector = await lockedDownContainer(build!.ref)
      .withExposedPorts(4317, 4318)
      .withWaitStrategy(Wait.forLogMessage(/Everything is ready/))
      .withStartupTimeout(60_000)
      .start();
    console.log(
      `otel-collector image (not asserted): ${build!.ref} ${(build!.sizeBytes / 1e6).toFixed(1)} MB, ready after ${Date.now() - t0} ms`,
    );
  }, 30 * 60_000);

  afterAll(async () => {
    await collector?.stop().catch(() => {});
  });

  it("keeps upstream's run-time contract: UID 10001, /otelcol on /etc/otelcol/config.yaml, OTLP ports", async () => {
    const cfg = await imageConfig(build.ref);
    expect(cfg.User).toBe('10001:10001');
    expect(cfg.Entrypoint).toEqual(['/otelcol']);
    expect(cfg.Cmd).toEqual(['--config', '/etc/otelcol/config.yaml']);
    expect(Object.keys(cfg.ExposedPorts ?? {}).sort()).toEqual(['4317/tcp', '4318/tcp']);
  });

  it('is version 0.165.0 with the OTLP receiver and the debug exporter', async () => {
    const out = await docker('run', '--rm', '--network', 'none', build.ref, 'components');
    const c = parse(out) as { buildinfo: { version: string }; receivers: { name: string }[]; exporters: { name: string }[] };
    expect(c.buildinfo.version).toBe('0.165.0');
    expect(c.receivers.map((r) => r.name)).toEqual(['otlp']);
    expect(c.exporters.map((e) => e.name)).toEqual(['debug']);
  });
});
