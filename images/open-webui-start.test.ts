// The start program of the scaled-out Open WebUI (manifests/components/high-availability/
// open-webui-start.py), run in the Open WebUI image as the pod runs it (UID 10000, read-only root,
// tmpfs where the pod has emptyDirs) against datastores as managed offerings run them: a Postgres
// that accepts TLS only (hostssl, a certificate from a CA made for the run), PgBouncer in
// transaction mode in front of it, a Redis that speaks TLS only. Each DATABASE_URL form Open WebUI
// 0.12.4 accepts connects through every engine the app will use; each form that cannot work stops
// within seconds with one line saying what to change, never a traceback or a wait. Two replicas
// starting together through the pooler on an empty database migrate once.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImages } from './factory/build.ts';
import { useLocalRyuk } from './factory/testcontainers.ts';
import { dockerTry } from '../lib/docker.ts';
import { REPO_ROOT } from '../lib/paths.ts';
import { makeCa, makeServerCert, type Pem } from '../lib/tls.ts';

const START = join(REPO_ROOT, 'manifests/components/high-availability/open-webui-start.py');
const USER = 'openwebui';
const PASSWORD = randomBytes(12).toString('hex');
const REDIS_PASSWORD = randomBytes(12).toString('hex');
const CA = '/tls/ca.crt';

let network: StartedNetwork;
const refs: Record<string, string> = {};
const started: StartedTestContainer[] = [];

const pgUrl = (hostPort: string, query = '', scheme = 'postgresql', password = PASSWORD) =>
  `${scheme}://${USER}:${password}@${hostPort}/${USER}${query}`;
const REDIS_URL = `rediss://:${REDIS_PASSWORD}@redis:6380/0?ssl_ca_certs=${CA}`;

function tlsFiles(ca: Pem, leaf: Pem, keyMode: number, dir = '/tls') {
  return [
    { content: ca.cert, target: `${dir}/ca.crt`, mode: 0o644 },
    { content: leaf.cert, target: `${dir}/tls.crt`, mode: 0o644 },
    { content: leaf.key, target: `${dir}/tls.key`, mode: keyMode },
  ];
}

/**
 * The production project's managed-datastores fixture (tests/production/fixtures/managed-datastores):
 * its pg_hba.conf and pgbouncer.ini are used here as they are, at the paths its pods mount them,
 * and Postgres answers to the in-cluster name the pooler's config gives it.
 */
const FIXTURE = join(REPO_ROOT, 'tests/production/fixtures/managed-datastores');
const fixtureFile = (name: string) => readFileSync(join(FIXTURE, name), 'utf8');
const POSTGRES_SERVICE = 'postgres.managed-db.svc.cluster.local';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** The start program in the Open WebUI image, as the Deployment runs it, with `env`. */
function runStart(env: Record<string, string>, args: string[] = ['--check'], name?: string): Promise<Run> {
  const t0 = Date.now();
  const argv = [
    'run',
    // A named run is a replica the test watches and removes itself (its logs outlive it).
    ...(name ? ['--name', name] : ['--rm']),
    '--network',
    network.getName(),
    '--user',
    '10000:10000',
    '--read-only',
    // Docker gives a tmpfs the owner of the image directory it covers; an emptyDir is the pod's.
    ...['/tmp', '/app/backend/data', '/app/backend/open_webui/static'].flatMap((p) => ['--tmpfs', `${p}:mode=1777,uid=10000,gid=10000`]),
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '-v',
    `${START}:/opt/chat-stack/open-webui-start.py:ro`,
    '-v',
    `${caDir}:/tls:ro`,
    ...Object.entries({ HOME: '/tmp', VECTOR_DB: 'pgvector', OFFLINE_MODE: 'True', WEBUI_SECRET_KEY: 'start-test', ...env })
      .filter(([, v]) => v !== '') // '' = unset
      .flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    refs['open-webui']!,
    'python3',
    '/opt/chat-stack/open-webui-start.py',
    ...args,
  ];
  return new Promise((resolve) => {
    const p = spawn('docker', argv);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, seconds: (Date.now() - t0) / 1000 }));
  });
}

let caDir = '';

describe('the Open WebUI start program against managed-like datastores', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    for (const b of await ensureImages(['open-webui', 'postgres', 'redis', 'pgbouncer'])) refs[b.name] = b.ref;
    await useLocalRyuk({ build: true });
    network = await new Network().start();
    const ca = await makeCa('chat-stack start-test CA', 1);
    // `pg-alias` reaches the same server under a name its certificate does not hold.
    const leaf = await makeServerCert(ca, ['pg', POSTGRES_SERVICE, 'pgbouncer', 'redis'], 1);
    caDir = mkdtempSync(join(tmpdir(), 'start-test-ca-'));
    chmodSync(caDir, 0o755);
    writeFileSync(join(caDir, 'ca.crt'), ca.cert, { mode: 0o644 });

    const postgres = new GenericContainer(refs['postgres']!)
      .withNetwork(network)
      .withNetworkAliases('pg', 'pg-alias', POSTGRES_SERVICE)
      .withEnvironment({ POSTGRES_USER: USER, POSTGRES_PASSWORD: PASSWORD, POSTGRES_DB: USER })
      .withCopyContentToContainer([
        ...tlsFiles(ca, leaf, 0o600),
        // TLS only, as managed offerings require: no plain `host` line at all.
        { content: fixtureFile('pg_hba.conf'), target: '/tls/pg_hba.conf', mode: 0o644 },
      ])
      // Postgres reads its key only when the server's own user owns it (0600).
      .withEntrypoint(['bash', '-c', 'chown postgres /tls/tls.key && exec docker-entrypoint.sh "$@"', '--'])
      .withCommand([
        'postgres',
        '-c',
        'ssl=on',
        '-c',
        'ssl_cert_file=/tls/tls.crt',
        '-c',
        'ssl_key_file=/tls/tls.key',
        '-c',
        'hba_file=/tls/pg_hba.conf',
      ])
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start();
    const pgbouncer = new GenericContainer(refs['pgbouncer']!)
      .withNetwork(network)
      .withNetworkAliases('pgbouncer')
      .withCopyContentToContainer([
        ...tlsFiles(ca, leaf, 0o644, '/etc/pgbouncer/tls'),
        { content: `"${USER}" "${PASSWORD}"\n`, target: '/etc/pgbouncer/auth/userlist.txt', mode: 0o644 },
        { content: fixtureFile('pgbouncer.ini'), target: '/etc/pgbouncer/config/pgbouncer.ini', mode: 0o644 },
      ])
      .withCommand(['/etc/pgbouncer/config/pgbouncer.ini'])
      .withWaitStrategy(Wait.forLogMessage(/process up/))
      .start();
    const redis = new GenericContainer(refs['redis']!)
      .withNetwork(network)
      .withNetworkAliases('redis')
      .withCopyContentToContainer(tlsFiles(ca, leaf, 0o644))
      .withCommand([
        ...['--port', '0', '--tls-port', '6380', '--tls-auth-clients', 'no'],
        ...['--tls-cert-file', '/tls/tls.crt', '--tls-key-file', '/tls/tls.key', '--tls-ca-cert-file', CA],
        ...['--requirepass', REDIS_PASSWORD, '--save', '', '--appendonly', 'no'],
      ])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
    started.push(...(await Promise.all([postgres, pgbouncer, redis])));
  }, 30 * 60_000);

  afterAll(async () => {
    for (const c of started) await c.stop().catch(() => {});
    await network?.stop().catch(() => {});
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  const works: [string, Record<string, string>][] = [
    ['verify-full with the provider CA', { DATABASE_URL: pgUrl('pg:5432', `?sslmode=verify-full&sslrootcert=${CA}`) }],
    ['the postgres:// scheme', { DATABASE_URL: pgUrl('pg:5432', '?sslmode=require', 'postgres') }],
    ['the postgresql+psycopg2:// driver name', { DATABASE_URL: pgUrl('pg:5432', '?sslmode=require', 'postgresql+psycopg2') }],
    // psycopg2 itself rejects `ssl=`; Open WebUI rewrites it for its engines, pgvector's takes it as given.
    ['?ssl=require', { DATABASE_URL: pgUrl('pg:5432', '?ssl=require') }],
    [
      'the split DATABASE_* variables (libpq prefers TLS)',
      {
        DATABASE_TYPE: 'postgresql',
        DATABASE_USER: USER,
        DATABASE_PASSWORD: PASSWORD,
        DATABASE_HOST: 'pg',
        DATABASE_PORT: '5432',
        DATABASE_NAME: USER,
      },
    ],
    ['PgBouncer in transaction mode on 6432', { DATABASE_URL: pgUrl('pgbouncer:6432', `?sslmode=verify-full&sslrootcert=${CA}`) }],
  ];

  it.each(works)('connects with %s: sync, async and pgvector engines over TLS, and Redis over TLS', async (_, env) => {
    const r = await runStart({ ...env, REDIS_URL });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Traceback/);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(report).toMatchObject({ tls: true, vectorStore: 'pgvector', redis: 1, serverVersion: expect.stringMatching(/^17\./) });
    expect(JSON.stringify(report), 'no password in what it prints').not.toContain(PASSWORD);
  });

  const fails: [string, Record<string, string>, RegExp][] = [
    ['TLS turned off', { DATABASE_URL: pgUrl('pg:5432', '?sslmode=disable') }, /accepts only TLS connections: add \?sslmode=verify-full/],
    ['a wrong password', { DATABASE_URL: pgUrl('pg:5432', '?sslmode=require', 'postgresql', 'wrong') }, /refused the user or password/],
    [
      'verify-full without the CA file',
      { DATABASE_URL: pgUrl('pg:5432', '?sslmode=verify-full') },
      /root certificate file .* mount the CA/,
    ],
    [
      'a host name the certificate does not hold',
      { DATABASE_URL: pgUrl('pg-alias:5432', `?sslmode=verify-full&sslrootcert=${CA}`) },
      /does not match host name .*use the host name it was issued for/,
    ],
    ['a URL that does not parse', { DATABASE_URL: `postgresql:/${USER}:${PASSWORD}@pg/${USER}` }, /cannot read its database settings/],
    [
      'a port that is not a number',
      { DATABASE_URL: pgUrl('pg:port') },
      /cannot read its database settings.*postgresql:\/\/USER:PASSWORD@HOST/,
    ],
    [
      'a misspelt parameter',
      { DATABASE_URL: pgUrl('pg:5432', '?sslmode=require&connect_timout=5') },
      /query parameter libpq does not know/,
    ],
    ['SQLite (no DATABASE_URL)', { DATABASE_URL: '' }, /needs Postgres, but the database resolves to sqlite/],
    ['Redis without the CA', { REDIS_URL: `rediss://:${REDIS_PASSWORD}@redis:6380/0` }, /certificate verify failed.*Redis: ssl_ca_certs=/],
    ['a wrong Redis password', { REDIS_URL: `rediss://:wrong@redis:6380/0?ssl_ca_certs=${CA}` }, /Redis refused the password/],
  ];

  it.each(fails)('stops at once with what to change on %s', async (_, env, message) => {
    const r = await runStart({ DATABASE_URL: pgUrl('pg:5432', `?sslmode=verify-full&sslrootcert=${CA}`), REDIS_URL, ...env });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^chat-stack start: error: /m);
    expect(r.stderr).toMatch(message);
    expect(r.stdout + r.stderr).not.toMatch(/Traceback/);
    expect(r.stdout, 'no retrying').not.toMatch(/waiting for/);
    expect(r.stderr, 'no password in the message').not.toContain(PASSWORD);
    console.log(`${_}: stopped in ${r.seconds.toFixed(1)} s: ${r.stderr.trim().split('\n').at(-1)}`);
  });

  it('starts two replicas together through the pooler on an empty database: one migrates, the other waits', async () => {
    const psql = (sql: string) => started[0]!.exec(['psql', '-U', USER, '-d', USER, '-tAc', sql]);
    expect((await psql('CREATE DATABASE fresh')).exitCode).toBe(0);
    const env = {
      DATABASE_URL: `postgresql://${USER}:${PASSWORD}@pgbouncer:6432/fresh?sslmode=verify-full&sslrootcert=${CA}`,
      REDIS_URL,
      OPENAI_API_BASE_URL: 'http://litellm:4000/v1',
      OPENAI_API_KEY: 'sk-test-key',
    };
    const names = ['start-a', 'start-b'].map((n) => `${n}-${randomBytes(3).toString('hex')}`);
    // Each replica goes on to start.sh after the lock: stop them once both have said so.
    const runs = names.map((n) => runStart(env, [], n));
    // docker logs --timestamps: when each replica held the lock, to show the two never overlap.
    const migrated = async (name: string) => {
      for (let i = 0; i < 240; i++) {
        const logs = await dockerTry('logs', '--timestamps', name);
        if (/migrated and released the lock/.test(logs.stdout)) return logs.stdout;
        // (created is not stopped: under load `docker run` may not have started it yet)
        const state = await dockerTry('inspect', '--format', '{{.State.Status}}', name);
        if (['exited', 'dead'].includes(state.stdout.trim()))
          throw new Error(`${name} stopped before migrating:\n${logs.stdout}${logs.stderr}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      throw new Error(`${name} did not migrate in 240 s`);
    };
    let logs: string[];
    try {
      logs = await Promise.all(names.map(migrated));
    } finally {
      for (const n of names) await dockerTry('rm', '-f', n);
      await Promise.all(runs);
    }
    const at = (log: string, line: RegExp) =>
      Date.parse(
        log
          .split('\n')
          .find((l) => line.test(l))!
          .split(' ')[0]!,
      );
    const held = logs.map((l) => [at(l, /holding the migration lock/), at(l, /releasing the migration lock/)] as const);
    const [first, second] = held.sort((a, b) => a[0] - b[0]);
    expect(second![0], `lock intervals ${JSON.stringify(held)}`).toBeGreaterThanOrEqual(first![1]);
    console.log(
      `migration lock: first replica held it ${((first![1] - first![0]) / 1000).toFixed(1)} s, the second took it ${((second![0] - first![1]) / 1000).toFixed(1)} s after and held it ${((second![1] - second![0]) / 1000).toFixed(1)} s`,
    );
    const db = (sql: string) => started[0]!.exec(['psql', '-U', USER, '-d', 'fresh', '-tAc', sql]);
    expect((await db('SELECT count(*) FROM alembic_version')).stdout.trim()).toBe('1');
    // pgvector's table, made under the lock by the replica that held it first (not raced for at import).
    expect(logs.filter((l) => /the vector store is ready \(pgvector\)/.test(l))).toHaveLength(2);
    expect((await db("SELECT to_regclass('public.document_chunk') IS NOT NULL")).stdout.trim()).toBe('t');
    // The LiteLLM connection, written by the program from the environment.
    expect((await db("SELECT value FROM config WHERE key = 'openai.api_keys'")).stdout.trim()).toBe('["sk-test-key"]');
    for (const l of logs) expect(l).not.toMatch(/Traceback/);
  }, 600_000);
});
