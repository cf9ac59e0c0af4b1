// The datastore images (images/postgres, images/redis) stand in for pgvector/pgvector:0.8.1-pg17-trixie
// and redis:8.0.4. Each runs here as Kubernetes runs it under the restricted profile (the UID/GID and fsGroup of
// components/in-cluster-datastores, not the images' 999,
// read-only root filesystem, emptyDirs as tmpfs, the data volume group-owned as fsGroup leaves
// it, every capability dropped, no privilege escalation) and keeps its upstream image's contract:
// the image config, the entrypoint's environment and arguments, and a real client over TCP.
// Images are built here if missing or stale; sizes are printed (not asserted).
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import { GenericContainer, getContainerRuntimeClient, getReaper, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImages, type EnsureResult } from './factory/build.ts';
import { docker, dockerTry, imageConfig, type ImageConfig } from '../lib/docker.ts';
import { useLocalRyuk } from './factory/testcontainers.ts';

const SESSION_LABEL = 'org.testcontainers.session-id';
// As components/in-cluster-datastores runs them (runAsUser = runAsGroup = fsGroup): above host accounts.
const PG_ID = 10432;
const REDIS_ID = 10379;
const START_TIMEOUT_MS = 120_000;
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PGDATA_MOUNT = '/var/lib/postgresql/data';
const PGDATA = `${PGDATA_MOUNT}/pgdata`; // a subdirectory, as the StatefulSet sets it

// The run-time contract of the upstream images (their Dockerfiles). User '' is upstream's too:
// started as root the entrypoint steps down to the 999 account; Kubernetes starts it as the manifests' UID.
const POSTGRES_CONTRACT = {
  user: '',
  workingDir: '',
  entrypoint: ['docker-entrypoint.sh'],
  cmd: ['postgres'],
  exposed: ['5432/tcp'],
  volumes: ['/var/lib/postgresql/data'],
  stopSignal: 'SIGINT',
  env: { PGDATA: '/var/lib/postgresql/data', PATH: `${BASE_PATH}:/usr/lib/postgresql/17/bin`, LANG: 'en_US.utf8', PG_MAJOR: '17' },
};
const REDIS_CONTRACT = {
  user: '',
  workingDir: '/data',
  entrypoint: ['docker-entrypoint.sh'],
  cmd: ['redis-server'],
  exposed: ['6379/tcp'],
  volumes: ['/data'],
  stopSignal: undefined,
  env: { PATH: BASE_PATH },
};

const envOf = (config: ImageConfig) =>
  Object.fromEntries((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

/** The image's config keeps an upstream contract (inspect leaves out empty strings). */
function expectContract(cfg: ImageConfig, c: typeof POSTGRES_CONTRACT | typeof REDIS_CONTRACT): void {
  expect(cfg.User ?? '').toBe(c.user);
  expect(cfg.WorkingDir ?? '').toBe(c.workingDir);
  expect(cfg.Entrypoint).toEqual(c.entrypoint);
  expect(cfg.Cmd).toEqual(c.cmd);
  expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(c.exposed);
  expect(Object.keys(cfg.Volumes ?? {})).toEqual(c.volumes);
  expect(cfg.StopSignal).toBe(c.stopSignal);
  expect(envOf(cfg)).toMatchObject(c.env);
}
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** Runs `sh -c script` in a fresh container of the image (no network, removed after), as root, to read what the image holds. */
async function inImage(ref: string, script: string): Promise<string> {
  return docker('run', '--rm', '--network', 'none', '--entrypoint', 'sh', ref, '-c', script);
}

/** A container started as the manifests' securityContext starts it. */
class KubeContainer extends GenericContainer {
  /** emptyDirs at `emptyDirs`, `volumes` (name -> path) mounted as they are. */
  asInPod(id: number, emptyDirs: string[], volumes: Record<string, string> = {}): this {
    this.hostConfig.ReadonlyRootfs = true;
    // NoCopy: Docker would otherwise copy the image directory's owner and mode onto a fresh
    // volume, which a PersistentVolume never gets.
    // (dockerode's type wants every VolumeOptions field; the Engine needs only NoCopy.)
    type Mount = NonNullable<typeof this.hostConfig.Mounts>[number];
    this.hostConfig.Mounts = Object.entries(volumes).map(
      ([name, target]) => ({ Type: 'volume', Source: name, Target: target, VolumeOptions: { NoCopy: true } }) as Mount,
    );
    // Docker gives a tmpfs the mode of the image directory it covers (an emptyDir starts empty
    // and world-writable), so the pod's UID owns each one: as writable as the emptyDir.
    const tmpfs = Object.fromEntries(emptyDirs.map((p) => [p, `rw,nosuid,nodev,mode=1777,uid=${id},gid=${id}`]));
    return this.withUser(`${id}:${id}`)
      .withTmpFs(tmpfs)
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withWaitStrategy(Wait.forListeningPorts())
      .withStartupTimeout(START_TIMEOUT_MS);
  }
}

/** Everything the container wrote to stdout and stderr so far (also after it stopped). */
async function logsOf(id: string): Promise<string> {
  const r = await dockerTry('logs', id);
  return `${r.stdout}\n${r.stderr}`;
}

/** The real UID/GID of the container's PID 1 and its command line. */
async function pid1Ids(c: StartedTestContainer): Promise<{ uid: string; gid: string; cmd: string }> {
  const r = await c.exec(['sh', '-c', "grep -E '^(Uid|Gid):' /proc/1/status; tr '\\0' ' ' </proc/1/cmdline"]);
  expect(r.exitCode, r.output).toBe(0);
  const uid = /^Uid:\s+(\d+)/m.exec(r.stdout)?.[1] ?? '?';
  const gid = /^Gid:\s+(\d+)/m.exec(r.stdout)?.[1] ?? '?';
  return { uid, gid, cmd: r.stdout.split('\n').at(-1)!.trim() };
}

describe("datastore images under the manifests' securityContext", { timeout: 180_000 }, () => {
  const refs: Record<string, string> = {};
  const builds: EnsureResult[] = [];
  const started: StartedTestContainer[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  let sessionId = '';

  beforeAll(async () => {
    builds.push(...(await ensureImages(['postgres', 'redis'])));
    for (const b of builds) refs[b.name] = b.ref;
    await useLocalRyuk({ build: true });
    sessionId = (await getReaper(await getContainerRuntimeClient())).sessionId;
  }, 30 * 60_000);

  afterAll(async () => {
    console.log(
      [
        'datastore images (not asserted):',
        ...builds.map(
          (b) =>
            `  ${b.ref.padEnd(50)} ${mb(b.sizeBytes).padStart(7)}  ${b.status === 'built' ? `built now in ${b.seconds}s` : 'up to date'}`,
        ),
      ].join('\n'),
    );
    for (const c of started.reverse()) await c.stop().catch(() => {});
    for (const f of cleanups.reverse()) await f().catch(() => {});
  }, 120_000);

  /** A Docker volume as a fresh PersistentVolume after the kubelet applied fsGroup: root-owned, group fsGroup, setgid, group-writable. */
  async function persistentVolume(): Promise<string> {
    const name = `chatstack-datastores-${randomUUID().slice(0, 8)}`;
    await docker('volume', 'create', '--label', `${SESSION_LABEL}=${sessionId}`, name);
    cleanups.push(() => dockerTry('volume', 'rm', '-f', name));
    await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '-v',
      `${name}:/volume`,
      '--entrypoint',
      'sh',
      refs['postgres']!,
      '-c',
      `chown 0:${PG_ID} /volume && chmod 2775 /volume`,
    );
    return name;
  }

  describe('postgres', () => {
    const env = { POSTGRES_USER: 'openwebui', POSTGRES_PASSWORD: `pw-${randomUUID()}`, POSTGRES_DB: 'openwebui', PGDATA };
    let initdbDir = '';
    let volume = '';
    let first: StartedTestContainer;

    const startPostgres = async () => {
      const c = await new KubeContainer(refs['postgres']!)
        .asInPod(PG_ID, ['/var/run/postgresql', '/tmp'], { [volume]: PGDATA_MOUNT })
        .withEnvironment(env)
        .withBindMounts([{ source: initdbDir, target: '/docker-entrypoint-initdb.d', mode: 'ro' }])
        .withExposedPorts(5432)
        .start();
      started.push(c);
      return c;
    };
    const connect = async (c: StartedTestContainer, password = env.POSTGRES_PASSWORD) => {
      const client = new pg.Client({
        host: c.getHost(),
        port: c.getMappedPort(5432),
        user: env.POSTGRES_USER,
        password,
        database: env.POSTGRES_DB,
        connectionTimeoutMillis: 10_000,
      });
      await client.connect();
      return client;
    };
    const query = async <T extends pg.QueryResultRow>(c: StartedTestContainer, sql: string) => {
      const client = await connect(c);
      try {
        return (await client.query<T>(sql)).rows;
      } finally {
        await client.end();
      }
    };

    beforeAll(async () => {
      // The ConfigMap the StatefulSet mounts: pgvector's extension, created once by the superuser.
      initdbDir = mkdtempSync(path.join(tmpdir(), 'datastores-initdb-'));
      chmodSync(initdbDir, 0o755);
      writeFileSync(
        path.join(initdbDir, '10-pgvector.sql'),
        'CREATE EXTENSION IF NOT EXISTS vector;\nCREATE TABLE initdb_runs (at timestamptz DEFAULT now());\nINSERT INTO initdb_runs DEFAULT VALUES;\n',
        { mode: 0o644 },
      );
      cleanups.push(async () => rmSync(initdbDir, { recursive: true, force: true }));
      volume = await persistentVolume();
      first = await startPostgres();
    }, 300_000);

    it('keeps the upstream image config: user, entrypoint, command, env, port, stop signal, volume', async () => {
      expectContract(await imageConfig(refs['postgres']!), POSTGRES_CONTRACT);
    });

    it('has the postgres account 999:999, its socket directory 3777 and the en_US.utf8 locale', async () => {
      const out = await inImage(
        refs['postgres']!,
        'getent passwd postgres; stat -c "%u:%g %a" /var/run/postgresql; locale -a; command -v postgres initdb pg_ctl psql pg_isready',
      );
      expect(out).toMatch(/^postgres:x:999:999:/m);
      expect(out).toMatch(/^999:999 3777$/m);
      expect(out).toMatch(/^en_US\.utf8$/m);
      expect(out).toContain('/usr/lib/postgresql/17/bin/postgres');
    });

    it("initialises PGDATA below the volume and runs the initdb.d script once, as the manifests' UID with a read-only root", async () => {
      expect(await pid1Ids(first)).toMatchObject({ uid: String(PG_ID), gid: String(PG_ID) });
      expect(await logsOf(first.getId())).toContain('running /docker-entrypoint-initdb.d/10-pgvector.sql');
      const r = await first.exec(['sh', '-c', `stat -c '%u %a' ${PGDATA}; touch /usr/local/probe 2>&1 || true`]);
      expect(r.stdout).toMatch(new RegExp(`^${PG_ID} 700$`, 'm'));
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(await query<{ n: string }>(first, 'SELECT count(*) AS n FROM initdb_runs')).toEqual([{ n: '1' }]);
    });

    it('accepts the password over TCP, refuses a wrong one', async () => {
      const client = await connect(first);
      const { rows } = await client.query<{ user: string; db: string }>('SELECT current_user AS user, current_database() AS db');
      await client.end();
      expect(rows).toEqual([{ user: env.POSTGRES_USER, db: env.POSTGRES_DB }]);
      const err = await connect(first, 'wrong-password').then(
        async (c) => {
          await c.end();
          return undefined;
        },
        (e: unknown) => e as { code?: string; message: string },
      );
      expect(err?.code, 'a wrong password must be refused').toBe('28P01');
      expect(err?.message).toMatch(/password authentication failed/);
    });

    it('is PostgreSQL 17 listening on every address, UTF-8 en_US, with pgvector', async () => {
      const [row] = await query<{ version: string; listen: string; encoding: string; collate: string; hba: string }>(
        first,
        "SELECT current_setting('server_version') AS version, current_setting('listen_addresses') AS listen, current_setting('server_encoding') AS encoding, (SELECT datcollate FROM pg_database WHERE datname = current_database()) AS collate, current_setting('password_encryption') AS hba",
      );
      expect(row!.version).toMatch(/^17\.\d+ /);
      expect(row!.listen).toBe('*');
      expect(row!.encoding).toBe('UTF8');
      expect(row!.collate).toBe('en_US.utf8');
      expect(row!.hba).toBe('scram-sha-256');
      expect(await query<{ distance: number }>(first, "SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector AS distance")).toEqual([
        { distance: 1 },
      ]);
      const [ext] = await query<{ extversion: string }>(first, "SELECT extversion FROM pg_extension WHERE extname = 'vector'");
      expect(ext?.extversion).toMatch(/^0\.8\./);
    });

    it("answers the manifests' probes: started (pg_isready), alive (any answer), ready (a query as the app's role)", async () => {
      // The StatefulSet's PGUSER/PGDATABASE: this UID has no passwd entry to default to.
      const asPod = ['env', `PGUSER=${env.POSTGRES_USER}`, `PGDATABASE=${env.POSTGRES_DB}`];
      const started = await first.exec([...asPod, 'pg_isready', '--host', '/var/run/postgresql', '--port', '5432']);
      expect(started.exitCode, started.output).toBe(0);
      expect(started.stdout).toContain('accepting connections');
      const alive = await first.exec([...asPod, 'bash', '-c', 'pg_isready --host /var/run/postgresql --port 5432; test $? -le 1']);
      expect(alive.exitCode, alive.output).toBe(0);
      const ready = await first.exec([
        ...asPod,
        'psql',
        '--no-psqlrc',
        '--host',
        '/var/run/postgresql',
        '--tuples-only',
        '--command',
        'SELECT 1',
      ]);
      expect(ready.exitCode, ready.output).toBe(0);
      expect(ready.stdout.trim()).toBe('1');
    });

    it('restarted on the same volume: shuts down fast on its stop signal, skips initialisation, keeps the data', async () => {
      const client = await connect(first);
      await client.query("CREATE TABLE kept (v vector(3)); INSERT INTO kept VALUES ('[1,1,1]')");
      await client.end();
      // Docker sends the image's STOPSIGNAL, as the kubelet sends the runtime's: SIGINT, a fast shutdown.
      const id = first.getId();
      await first.stop({ remove: false, timeout: 30_000 });
      cleanups.push(() => dockerTry('rm', '-f', id));
      const stopLogs = await logsOf(id);
      expect(stopLogs).toMatch(/received fast shutdown request/);
      expect(stopLogs).toMatch(/database system is shut down/);

      first = await startPostgres();
      const logs = await logsOf(first.getId());
      expect(logs).toContain('initialisation skipped');
      expect(logs).not.toContain('running /docker-entrypoint-initdb.d');
      expect(await query<{ v: string }>(first, 'SELECT v::text FROM kept')).toEqual([{ v: '[1,1,1]' }]);
      expect(await query<{ n: string }>(first, 'SELECT count(*) AS n FROM initdb_runs')).toEqual([{ n: '1' }]);
    });

    it('refuses to initialise without POSTGRES_PASSWORD, saying what to set', async () => {
      const r = await dockerTry(
        'run',
        '--rm',
        '--network',
        'none',
        '--label',
        `${SESSION_LABEL}=${sessionId}`,
        '--user',
        `${PG_ID}:${PG_ID}`,
        '--read-only',
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '--tmpfs',
        `/var/run/postgresql:mode=1777,uid=${PG_ID},gid=${PG_ID}`,
        '--tmpfs',
        `/tmp:mode=1777,uid=${PG_ID},gid=${PG_ID}`,
        '--tmpfs',
        `${PGDATA_MOUNT}:mode=2770,uid=${PG_ID},gid=${PG_ID}`,
        '-e',
        `PGDATA=${PGDATA}`,
        '-e',
        'POSTGRES_USER=openwebui',
        refs['postgres']!,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/not initialised and no superuser password is set/);
      expect(r.stderr).toMatch(/POSTGRES_PASSWORD/);
      expect(r.stdout + r.stderr).not.toMatch(/initdb|database system is ready/);
    });
  });

  describe('redis', () => {
    let server: StartedTestContainer;

    const startRedis = async (command: string[], extraEnv: Record<string, string> = {}) => {
      const c = await new KubeContainer(refs['redis']!)
        .asInPod(REDIS_ID, ['/data'])
        .withCommand(command)
        .withEnvironment(extraEnv)
        .withExposedPorts(6379)
        .start();
      started.push(c);
      return c;
    };
    const redisUrl = (c: StartedTestContainer) => `redis://${c.getHost()}:${c.getMappedPort(6379)}`;

    beforeAll(async () => {
      // /data is an emptyDir in the manifests (a tmpfs here).
      server = await startRedis(['redis-server', '--save', '', '--appendonly', 'no']);
    }, 300_000);

    it('keeps the upstream image config: user, working directory, entrypoint, command, port, volume', async () => {
      expectContract(await imageConfig(refs['redis']!), REDIS_CONTRACT);
      const out = await inImage(
        refs['redis']!,
        'getent passwd redis; getent group redis; stat -c "%u:%g" /data; command -v redis-server redis-cli',
      );
      expect(out).toMatch(/^redis:x:999:999:/m);
      expect(out).toMatch(/^redis:x:999:$/m);
      expect(out).toMatch(/^999:999$/m);
      expect(out).toContain('/usr/local/bin/redis-server');
    });

    it("serves a client over TCP (protected mode off, as upstream), Redis 8.0, as the manifests' UID with a read-only root", async () => {
      const client = createClient({ url: redisUrl(server), socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      await client.connect();
      try {
        expect(await client.set('chatstack:key', 'value')).toBe('OK');
        expect(await client.get('chatstack:key')).toBe('value');
        const info = await client.info('server');
        expect(info).toMatch(/^redis_version:8\.0\.\d+\r?$/m);
        expect(await client.configGet('protected-mode')).toEqual({ 'protected-mode': 'no' });
        expect(await client.configGet('save')).toEqual({ save: '' });
        expect(await client.configGet('dir')).toEqual({ dir: '/data' });
        // The one place it writes: the emptyDir, files private to its UID (umask 0077).
        expect(await client.sendCommand(['SAVE'])).toBe('OK');
      } finally {
        client.destroy();
      }
      const ids = await pid1Ids(server);
      expect(ids).toMatchObject({ uid: String(REDIS_ID), gid: String(REDIS_ID) });
      expect(ids.cmd).toMatch(/^redis-server \*:6379/);
      const r = await server.exec(['sh', '-c', "stat -c '%u %a %n' /data/dump.rdb; touch /etc/probe 2>&1 || true"]);
      expect(r.stdout).toMatch(new RegExp(`^${REDIS_ID} 600 /data/dump\\.rdb$`, 'm'));
      expect(r.stdout).toMatch(/Read-only file system/);
    });

    it("takes bare options as redis-server's (as the manifests pass them) and then requires the password", async () => {
      const password = `pw-${randomUUID()}`;
      const c = await startRedis(['--requirepass', password, '--save', '', '--appendonly', 'no'], { REDISCLI_AUTH: password });
      expect((await pid1Ids(c)).cmd).toMatch(/^redis-server \*:6379/);
      const anonymous = createClient({ url: redisUrl(c), socket: { reconnectStrategy: false } });
      anonymous.on('error', () => {});
      const refused = await anonymous.connect().then(
        async () =>
          anonymous.get('x').then(
            () => undefined,
            (e: unknown) => e as Error,
          ),
        (e: unknown) => e as Error,
      );
      anonymous.destroy();
      expect(refused?.message).toMatch(/NOAUTH|WRONGPASS|Authentication required/i);
      const authed = createClient({ url: redisUrl(c), password, socket: { reconnectStrategy: false } });
      authed.on('error', () => {});
      await authed.connect();
      expect(await authed.ping()).toBe('PONG');
      authed.destroy();
      // The manifests' probe: redis-cli with the password from REDISCLI_AUTH.
      const probe = await c.exec(['redis-cli', 'ping']);
      expect(probe.exitCode, probe.output).toBe(0);
      expect(probe.stdout.trim()).toBe('PONG');
    });
  });
});
