// overlays/production (not the selfhosted one) on datastores as clouds run them: a Postgres that
// accepts TLS only, behind PgBouncer in transaction mode on 6432, and a Redis that speaks TLS only
// on 6380 (tests/production/fixtures/managed-datastores, namespace managed-db, certificates from a
// CA made for the run). The stack goes to its own namespace, chat-managed, as a GitOps user deploys
// it: the overlay itself from a clean clone (no local files), its Secrets created beforehand with
// `kubectl create secret`, configured only through the overlay's parameters: the Secret's URLs
// (verify-full with the provider's CA, rediss://), components/datastores-ca, and the egress policy
// narrowed to the pod network on 6432 and 6380.
// Two Open WebUI replicas start together on the empty database: one migrates, neither restarts;
// sessions, chats and the websocket work across them; a port the policy does not list stays closed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import OpenAI from 'openai';
import * as k8s from '@kubernetes/client-node';
import type { Socket } from 'socket.io-client';
import { connectSocket, joinChat, nextEvent } from '../support/websocket.ts';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stack as productionStack } from '../support/live.ts';
import { api, readChatAndFile, saveChatAndFile, signIn, streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { canConnect } from '../support/probes.ts';
import { forwardEachPod } from '../support/replicas.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { cleanCopy } from '../support/clean-copy.ts';
import { PUBLIC_ORIGIN, IDP_ISSUER } from '../support/production-setup.ts';
import { stackSecret, up, type Stack } from '../../dev/lib/stack.ts';
import { loadImages } from '../../dev/lib/cluster.ts';
import { ensureImages } from '../../images/factory/build.ts';
import { REPO_ROOT } from '../../lib/paths.ts';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { makeCa, makeServerCert } from '../../lib/tls.ts';
import { deleteNamespace } from '../../lib/kube/namespace.ts';
import { containerLogs, execIn, listPods, podOf } from '../../lib/kube/pod.ts';
import { type Forward } from '../../lib/kube/port-forward.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';

const NS = 'chat-managed';
const DB_NS = 'managed-db';
const CA_PATH = '/etc/chat-stack/datastores-ca/ca.crt'; // components/datastores-ca
const host = (service: string) => `${service}.${DB_NS}.svc.cluster.local`;
const log = (l: string) => console.log(`[managed] ${l}`);
const model = configuredModels()[0]!;

let ws: Workspace | undefined;
let managed: Stack | undefined;
/** The values of the Secrets (the env files a team's secret manager would hold). */
let secretsDir = '';
let clean = '';
const forwards: Forward[] = [];
const sockets: Socket[] = [];
const started = { seconds: 0 };

const kc = () => managed!.kc;
const admin = () => ({
  email: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_EMAIL'),
  password: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_PASSWORD'),
});
/** psql as the database's owner in the managed Postgres pod (over its socket). */
async function psql(sql: string): Promise<string> {
  const pod = (await podOf(kc(), DB_NS, 'managed-postgres')).metadata!.name!;
  const r = await execIn(kc(), DB_NS, pod, 'postgres', ['psql', '--no-psqlrc', '-tAc', sql]);
  if (r.code !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.trim();
}
const openWebuiPods = async () =>
  (await listPods(kc(), NS, 'app.kubernetes.io/name=open-webui')).filter((p) => !p.metadata?.deletionTimestamp);

/** The fixture with its generated Secrets (certificates for the three services, passwords). */
async function writeDatastores(dir: string, passwords: { postgres: string; redis: string }): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const ca = await makeCa('chat-stack managed-datastores test CA', 2);
  const names = ['postgres', 'pgbouncer', 'redis'].flatMap((s) => [host(s), `${s}.${DB_NS}.svc`, `${s}.${DB_NS}`]);
  const leaf = await makeServerCert(ca, names, 2);
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  writeFileSync(join(dir, 'tls.crt'), leaf.cert);
  writeFileSync(join(dir, 'tls.key'), leaf.key, { mode: 0o600 });
  writeFileSync(join(dir, 'userlist.txt'), `"openwebui" "${passwords.postgres}"\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: DB_NS,
      resources: [relative(dir, join(REPO_ROOT, 'tests/production/fixtures/managed-datastores'))],
      secretGenerator: [
        { name: 'datastores-tls', files: ['ca.crt', 'tls.crt', 'tls.key'] },
        {
          name: 'datastores-auth',
          files: ['userlist.txt'],
          literals: [`POSTGRES_PASSWORD=${passwords.postgres}`, `REDIS_PASSWORD=${passwords.redis}`],
        },
      ],
    }),
  );
  return ca.cert;
}

/** The Secrets the overlay names (docs/operations.md, "Secrets"), made as a team without our tooling makes them. */
const SECRET_FILES: Record<string, string> = {
  'litellm-secrets': 'litellm.env',
  'open-webui-secrets': 'open-webui.env',
  'open-webui-admin': 'admin.env',
  'open-webui-datastores': 'datastores.env',
  'open-webui-oidc': 'oidc.env',
};
function createSecretsWithKubectl(kubeconfig: string): void {
  const kubectl = (...args: string[]) => execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: 'pipe' });
  kubectl('create', 'namespace', NS);
  for (const [name, file] of Object.entries(SECRET_FILES))
    kubectl('-n', NS, 'create', 'secret', 'generic', name, `--from-env-file=${join(secretsDir, file)}`);
}

/** The production overlay from a clean clone, given what a team gives it: the CA, the egress parameters. */
function writeStack(dir: string, caCert: string, clean: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), caCert);
  // The overlay's egress parameter narrowed to where these datastores are (the pod network) and the ports they use.
  const egress = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'open-webui-datastores' },
    spec: {
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.42.0.0/16' } }],
          ports: [
            { protocol: 'TCP', port: 6432 },
            { protocol: 'TCP', port: 6380 },
          ],
        },
      ],
    },
  };
  // Both replicas from the first moment, on the empty database (the HPA keeps its minimum of two).
  const together = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'open-webui' }, spec: { replicas: 2 } };
  writeFileSync(join(dir, 'egress.yaml'), stringify(egress));
  writeFileSync(join(dir, 'together.yaml'), stringify(together));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: NS,
      resources: [relative(dir, join(clean, 'manifests/overlays/production'))],
      components: ['fake-anthropic', 'datastores-ca'].map((c) => relative(dir, join(clean, 'manifests/components', c))),
      configMapGenerator: [{ name: 'datastores-ca', files: ['ca.crt'] }],
      // A strategic merge replaces the policy's egress list (it has no merge key).
      patches: [{ path: 'egress.yaml' }, { path: 'together.yaml' }],
    }),
  );
}

beforeAll(async () => {
  ws = await createWorkspace();
  secretsDir = join(ws.localDir, 'production');
  const passwords = { postgres: randomSecret(''), redis: randomSecret('') };
  fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') });
  fillEmptyValues(join(secretsDir, 'datastores.env'), {
    DATABASE_URL: `postgresql://openwebui:${passwords.postgres}@${host('pgbouncer')}:6432/openwebui?sslmode=verify-full&sslrootcert=${CA_PATH}`,
    REDIS_URL: `rediss://:${passwords.redis}@${host('redis')}:6380/0?ssl_ca_certs=${CA_PATH}`,
  });
  fillEmptyValues(join(secretsDir, 'oidc.env'), {
    OPENID_PROVIDER_URL: `${IDP_ISSUER}/.well-known/openid-configuration`,
    OAUTH_CLIENT_ID: 'chat-stack-managed',
    OAUTH_CLIENT_SECRET: randomSecret(''),
  });
  const caCert = await writeDatastores(join(ws.root, 'managed-db'), passwords);
  clean = cleanCopy(['manifests']);
  writeStack(join(ws.root, 'managed-stack'), caCert, clean);
  createSecretsWithKubectl(productionStack.kubeconfig);
  const dir = join(ws.root, 'managed-under-test');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({ resources: ['../managed-stack', '../managed-db'] }));

  // The pooler is the one image the production node was not started with.
  const hermetic = productionStack.images.mode === 'hermetic';
  if (hermetic) {
    const pgbouncer = (await ensureImages(['pgbouncer'], { log })).find((b) => b.name === 'pgbouncer')!;
    await loadImages({ id: productionStack.clusterId! }, [pgbouncer.ref], log);
  }
  const t0 = Date.now();
  managed = await up({
    overlay: 'production',
    dir,
    secretsDir,
    namespace: NS,
    kubeconfig: productionStack.kubeconfig,
    hermeticImagesLoaded: hermetic,
    log,
  });
  started.seconds = (Date.now() - t0) / 1000;
  log(`applied to every replica Ready (both Open WebUI replicas through the pooler and TLS): ${started.seconds.toFixed(1)} s`);
  forwards.push(...(await forwardEachPod('open-webui', 2, { kc: kc(), namespace: NS })));
}, 900_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await Promise.all(forwards.map((f) => f.close()));
  if (managed) {
    await managed.detach();
    for (const ns of [NS, DB_NS]) await deleteNamespace(managed.kc, ns);
  }
  ws?.[Symbol.dispose]();
  if (clean) rmSync(clean, { recursive: true, force: true });
}, 300_000);

describe('the production overlay on managed-like datastores', { timeout: 120_000 }, () => {
  it("runs on the Secrets made with kubectl create secret, by their fixed names (no generator's hash)", async () => {
    const apps = kc().makeApiClient(k8s.AppsV1Api);
    const names = new Set<string>();
    for (const name of ['open-webui', 'litellm']) {
      const d = await apps.readNamespacedDeployment({ name, namespace: NS });
      for (const c of d.spec!.template.spec!.containers)
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) names.add(e.valueFrom.secretKeyRef.name!);
    }
    expect([...names].sort()).toEqual(Object.keys(SECRET_FILES).sort());
  });

  it('started two replicas together on the empty database: one migrated, the other waited, neither restarted', async () => {
    const pods = await openWebuiPods();
    expect(pods).toHaveLength(2);
    const starts = pods.map((p) => Date.parse(String(p.status!.startTime)));
    expect(Math.abs(starts[0]! - starts[1]!), 'started together').toBeLessThan(5_000);
    const logs: string[] = [];
    for (const p of pods) {
      for (const c of p.status?.containerStatuses ?? []) expect(c.restartCount, `${p.metadata!.name} restarts`).toBe(0);
      const l = await containerLogs(kc(), NS, p.metadata!.name!, 'open-webui', 5000);
      expect(l).toMatch(/chat-stack start: database postgresql:\/\/openwebui:\*\*\*@pgbouncer\.managed-db.*\(Postgres 17\.\d+.*, TLS on\)/);
      expect(l).toMatch(/chat-stack start: holding the migration lock/);
      expect(l).not.toMatch(/Traceback/);
      logs.push(l);
    }
    // Alembic logs each migration it runs: all on one replica, none on the other.
    expect(logs.map((l) => /Running upgrade/.test(l)).sort()).toEqual([false, true]);
    expect(await psql('SELECT count(*) FROM alembic_version')).toBe('1');
    expect(await psql('SELECT count(*) FROM "user"')).toBe('1');
  });

  it('reaches Postgres only through the pooler, every server connection over TLS', async () => {
    const pgbouncer = (await podOf(kc(), DB_NS, 'pgbouncer')).status!.podIP!;
    const rows = (
      await psql(
        "SELECT host(a.client_addr) || ' ' || s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'openwebui' AND a.client_addr IS NOT NULL",
      )
    )
      .split('\n')
      .filter(Boolean);
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows)).toEqual(new Set([`${pgbouncer} true`]));
    log(`connections at Postgres at rest (all from the pooler, all TLS): ${rows.length}`);
  });

  it('opens the listed ports and no other: the pooler and TLS Redis yes, Postgres direct no', async () => {
    const openWebui = (await openWebuiPods())[0]!.metadata!.name!;
    const pooler = (await podOf(kc(), DB_NS, 'pgbouncer')).metadata!.name!;
    expect(await canConnect(kc(), NS, openWebui, 'open-webui', 'python', host('pgbouncer'), 6432)).toBe(true);
    expect(await canConnect(kc(), NS, openWebui, 'open-webui', 'python', host('redis'), 6380)).toBe(true);
    // Control: Postgres listens on 5432 for whoever may reach it (the pooler, in an unpoliced namespace).
    expect(await canConnect(kc(), DB_NS, pooler, 'pgbouncer', 'bash', host('postgres'), 5432)).toBe(true);
    expect(await canConnect(kc(), NS, openWebui, 'open-webui', 'python', host('postgres'), 5432)).toBe(false);
  });

  it('keeps a session, a chat and a file across replicas, and streams a chat', async () => {
    const [a, b] = forwards.map((f) => f.url) as [string, string];
    const { token } = await signIn(a, admin());
    const me = await api<{ email: string }>(b, '/api/v1/auths/', token);
    expect(me.status, 'the session made on one replica is valid on the other').toBe(200);
    expect(me.body.email).toBe(admin().email);
    const title = `managed ${Date.now()}`;
    const saved = await saveChatAndFile(a, token, { title, model: model.name, fileName: 'notes.txt', fileText: 'kept in Postgres' });
    const read = await readChatAndFile(b, token, saved);
    expect(read.chats).toContainEqual([saved.chatId, title]);
    expect(read.messages.map((m) => m.content)).toEqual(['first question', 'first answer']);
    expect(read.file).toEqual({ status: 200, text: 'kept in Postgres' });
    const client = new OpenAI({ baseURL: `${b}/api`, apiKey: token, maxRetries: 0 });
    expect(await streamChat(client, model.name, 'through the pooler')).toEqual({
      text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'through the pooler' }] }),
    });
  });

  it('carries a websocket event from one replica to the other through the TLS Redis', async () => {
    const [a, b] = forwards.map((f) => f.url) as [string, string];
    const { token } = await signIn(a, admin());
    const created = await api<{ id: string }>(a, '/api/v1/chats/new', token, {
      method: 'POST',
      body: JSON.stringify({ chat: { title: `websocket ${Date.now()}`, models: [model.name], messages: [] } }),
    });
    expect(created.status).toBe(200);
    const chatId = created.body.id;
    const connect = async (base: string) => {
      const s = await connectSocket(base, token, PUBLIC_ORIGIN);
      sockets.push(s);
      expect(await joinChat(s, chatId)).toBe(true);
      return s;
    };
    const sender = await connect(a);
    const other = await connect(b);
    const seen = nextEvent(other, chatId, 'typing');
    expect(
      await sender.timeout(10_000).emitWithAck('events:chat', { chat_id: chatId, data: { type: 'typing', data: { typing: true } } }),
    ).toBe(true);
    expect(await seen, 'the client on the other replica, through Redis').toMatchObject({ chat_id: chatId, data: { type: 'typing' } });
  });
});
