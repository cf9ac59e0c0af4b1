// The Docker Engine can do what the harness needs: privileged containers (k3s runs privileged)
// with `docker exec`, and the locally built resource reaper cleaning up after test sessions.
// Engine: bash lib/engine.sh. Images come from images/ (built here if missing or stale).
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { GenericContainer, Wait } from 'testcontainers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from './factory/build.ts';
import { docker } from '../lib/docker.ts';
import { useLocalRyuk } from './factory/testcontainers.ts';

const CAP_SYS_ADMIN = 21;
const SESSION_LABEL = 'org.testcontainers.session-id';
const RYUK_LABEL = 'org.testcontainers.ryuk';

const lines = (out: string) => out.split('\n').filter(Boolean);

/** Sends one filter line to a reaper and resolves with its answer; the socket stays open. */
function sendFilter(host: string, port: number, filter: string): Promise<{ socket: net.Socket; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => socket.write(`${filter}\r\n`));
    socket.once('data', (data) => resolve({ socket, answer: data.toString() }));
    socket.once('error', reject);
  });
}

describe('docker engine', { timeout: 120_000 }, () => {
  let baseImage = '';
  let ryukImage = '';

  beforeAll(async () => {
    baseImage = (await ensureImage('base')).ref;
    await ensureImage('ryuk');
    const env = await useLocalRyuk({ build: false });
    ryukImage = env.ryukImage;
  }, 900_000);

  it('starts a privileged container and docker exec into it works', async () => {
    await using container = await new GenericContainer(baseImage).withPrivilegedMode().withCommand(['sleep', 'infinity']).start();

    expect(await docker('inspect', '--format', '{{.HostConfig.Privileged}}', container.getId())).toBe('true');
    // Mounting needs CAP_SYS_ADMIN, which only a privileged container has.
    const result = await container.exec(['sh', '-c', 'mount -t tmpfs none /mnt && grep CapEff /proc/self/status']);
    expect(result.exitCode, result.output).toBe(0);
    const capEff = BigInt(`0x${result.stdout.trim().split(/\s+/)[1]}`);
    expect((capEff >> BigInt(CAP_SYS_ADMIN)) & 1n).toBe(1n);
  });

  it('runs the default reaper from the local ryuk image', async () => {
    if (process.env.TESTCONTAINERS_RYUK_DISABLED === 'true') return expect.fail('the reaper is disabled');
    await using container = await new GenericContainer(baseImage).withCommand(['sleep', 'infinity']).start();

    const session = await docker('inspect', '--format', `{{index .Config.Labels "${SESSION_LABEL}"}}`, container.getId());
    const reapers = lines(
      await docker('ps', '--filter', `label=${RYUK_LABEL}=true`, '--filter', `label=${SESSION_LABEL}=${session}`, '--format', '{{.Image}}'),
    );
    expect(reapers).toEqual([ryukImage]);
  });

  it('reaps the containers, networks and volumes of a filter once its client disconnects', async () => {
    const label = `chatstack.reap-test=${randomUUID()}`;
    // A reaper of its own (not shared with other sessions: TESTCONTAINERS_RYUK_TEST_LABEL) with a short grace period.
    const reaper = await new GenericContainer(ryukImage)
      .withExposedPorts(8080)
      .withBindMounts([{ source: '/var/run/docker.sock', target: '/var/run/docker.sock' }])
      .withLabels({ TESTCONTAINERS_RYUK_TEST_LABEL: 'true' })
      .withEnvironment({ RYUK_RECONNECTION_TIMEOUT: '1s' })
      .withWaitStrategy(Wait.forLogMessage(/Started/))
      .start();
    const { socket, answer } = await sendFilter(reaper.getHost(), reaper.getMappedPort(8080), `label=${label}`);
    expect(answer).toBe('ACK\n');

    const doomed = await docker('run', '-d', '--label', label, baseImage, 'sleep', 'infinity');
    await docker('network', 'create', '--label', label, `reap-test-${doomed.slice(0, 12)}`);
    await docker('volume', 'create', '--label', label);
    const left = async () => ({
      containers: lines(await docker('ps', '-aq', '--filter', `label=${label}`)).length,
      networks: lines(await docker('network', 'ls', '-q', '--filter', `label=${label}`)).length,
      volumes: lines(await docker('volume', 'ls', '-q', '--filter', `label=${label}`)).length,
    });
    expect(await left()).toEqual({ containers: 1, networks: 1, volumes: 1 });

    socket.end();
    await expect.poll(left, { timeout: 60_000, interval: 1000 }).toEqual({ containers: 0, networks: 0, volumes: 0 });
    // Its work done, the reaper exits (and is auto-removed by the engine).
    await expect.poll(async () => lines(await docker('ps', '-aq', '--filter', `id=${reaper.getId()}`)).length, { timeout: 30_000 }).toBe(0);
  });
});
