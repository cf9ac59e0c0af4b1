// The registry image (images/registry): crane of go-containerregistry FROM scratch as nobody
// (65534), serving a registry on port 5000 (`crane registry serve`, blobs in /var/lib/registry),
// started locked down by fixture.ts as the later tests start it. It takes a docker push and serves
// the manifest back; crane from the same image makes a multi-platform index in it. Prints the
// start-to-ready time and the image size (not asserted).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImages, type EnsureResult } from '../factory/build.ts';
import { docker, dockerTry, imageConfig } from '../../lib/docker.ts';
import { dockerPush, pushMultiPlatform, startRegistry, type StartedRegistry } from './fixture.ts';

const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const HOST_PLATFORM = `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`;

describe('images/registry: a local OCI registry and crane', { timeout: 120_000 }, () => {
  let build: EnsureResult;
  let pause = '';
  let registry: StartedRegistry;

  beforeAll(async () => {
    const built = await ensureImages(['registry', 'pause']);
    build = built.find((r) => r.name === 'registry')!;
    pause = built.find((r) => r.name === 'pause')!.ref;
    const t0 = Date.now();
    registry = await startRegistry({ image: build.ref });
    console.log(`registry image (not asserted): ${build.ref} ${(build.sizeBytes / 1e6).toFixed(1)} MB, ready after ${Date.now() - t0} ms`);
  }, 30 * 60_000);

  afterAll(async () => {
    await registry?.container.stop().catch(() => {});
  });

  it('is crane v0.22.1 FROM scratch as 65534, the entrypoint serving on 5000 with blobs on disk', async () => {
    const cfg = await imageConfig(build.ref);
    expect(cfg.User).toBe('65534:65534');
    expect(cfg.Entrypoint).toEqual(['/crane', 'registry', 'serve', '--address=:5000', '--disk=/var/lib/registry']);
    expect(cfg.Cmd ?? null).toBeNull();
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(['5000/tcp']);
    // crane stops gracefully on SIGINT only; SIGTERM to PID 1 would wait for the kill.
    expect(cfg.StopSignal).toBe('SIGINT');
    expect(await docker('run', '--rm', '--network', 'none', '--entrypoint', '/crane', build.ref, 'version')).toBe('v0.22.1');
    // No shell, no userland: FROM scratch.
    const sh = await dockerTry('run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', build.ref, '-c', 'true');
    expect(sh.code).not.toBe(0);
  });

  it('answers GET /v2/ started locked down: read-only root, no capabilities, no privilege gain', async () => {
    const host = JSON.parse(await docker('inspect', '--format', '{{json .HostConfig}}', registry.container.getId())) as {
      ReadonlyRootfs: boolean;
      CapDrop: string[] | null;
      SecurityOpt: string[] | null;
    };
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.SecurityOpt).toContain('no-new-privileges');
    const res = await fetch(`http://${registry.hostAddress}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('takes a docker push and serves the manifest back by tag under the digest push printed', async () => {
    const digest = await dockerPush(registry, pause, 'library/pause:3.10');
    const res = await fetch(`http://${registry.hostAddress}/v2/library/pause/manifests/3.10`, {
      headers: { Accept: MANIFEST_TYPES.join(', ') },
    });
    expect(res.status).toBe(200);
    expect(MANIFEST_TYPES).toContain(res.headers.get('content-type'));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const body = Buffer.from(await res.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(digest);
  });

  it("makes a multi-platform index with crane from the same image, on the registry's network", async () => {
    const image = await dockerPush(registry, pause, 'library/pause:multi');
    const { digest, index } = await pushMultiPlatform(registry, 'library/pause:multi');
    expect(INDEX_TYPES).toContain(index.mediaType);
    const platforms = index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`);
    expect(platforms).toHaveLength(2);
    expect(new Set(platforms).size).toBe(2);
    // The pushed image is listed under its own platform; the tag now names the index.
    expect(index.manifests.find((m) => m.digest === image)?.platform).toMatchObject({
      os: HOST_PLATFORM.split('/')[0],
      architecture: HOST_PLATFORM.split('/')[1],
    });
    const res = await fetch(`http://${registry.hostAddress}/v2/library/pause/manifests/multi`, {
      method: 'HEAD',
      headers: { Accept: [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ') },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });
});
