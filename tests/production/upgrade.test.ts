// An upgrade of two Open WebUI replicas on Postgres, at its worst moment: both replicas of the new
// release start together against the earlier release's schema, with data in it. Open WebUI's own
// migrations take no lock; the manifests run them under a Postgres advisory lock, so one replica
// must migrate while the other waits and then finds the schema current: each migration once, no
// restart, no error. (A rolling update, maxSurge 1, starts one new pod at a time: an easier case.)
// The Deployment is scaled to 0 (which its HPA leaves alone), the database emptied and filled by
// two replicas of the earlier release (images/open-webui-previous) configured as the earlier
// manifests were (pgvector's table at Open WebUI's default size, 1536, before retrieval was on),
// then switched to this release and these manifests' size (voyage-4's 1024).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import * as k8s from '@kubernetes/client-node';
import { admin, kc, stack } from '../support/live.ts';
import { sql } from '../support/postgres.ts';
import { api, readChatAndFile, saveChatAndFile, signIn, streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { migrationsRun, pendingMigrations, previousImageEntries } from '../support/upgrade.ts';
import { containerLogs, isPodReady, listPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { randomSecret } from '../../lib/secrets.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';

const ns = stack.namespace;
const url = stack.urls.openWebui;
const apps = kc.makeApiClient(k8s.AppsV1Api);
const model = configuredModels()[0]!;
const SELECTOR = 'app.kubernetes.io/name=open-webui';
const user = { name: 'Lin Upgrade', email: `lin-${Date.now()}@example.com`, password: `Pw-${randomSecret('')}` };
const log = (l: string) => console.log(`[upgrade] ${l}`);

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const scale = (replicas: number) =>
  apps.patchNamespacedDeploymentScale({ name: 'open-webui', namespace: ns, body: { spec: { replicas } } }, merge);
const VECTOR_LENGTH = 'PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH';
const BYPASS = 'BYPASS_EMBEDDING_AND_RETRIEVAL';
type Env = Record<string, string>;
/** The image, and environment values it runs with (the earlier manifests': retrieval off, the table at Open WebUI's default size). */
const setImage = (image: string, env?: Env) =>
  apps.patchNamespacedDeployment(
    {
      name: 'open-webui',
      namespace: ns,
      body: {
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'open-webui', image, ...(env ? { env: Object.entries(env).map(([name, value]) => ({ name, value })) } : {}) },
              ],
            },
          },
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
const currentEnv = async (): Promise<Env> => {
  const env = (await apps.readNamespacedDeployment({ name: 'open-webui', namespace: ns })).spec!.template.spec!.containers[0]!.env!;
  return Object.fromEntries([VECTOR_LENGTH, BYPASS].map((k) => [k, env.find((e) => e.name === k)!.value!]));
};
const vectorColumn = () =>
  sql("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'document_chunk'::regclass AND attname = 'vector'");
const currentImage = async () =>
  (await apps.readNamespacedDeployment({ name: 'open-webui', namespace: ns })).spec!.template.spec!.containers.find(
    (c) => c.name === 'open-webui',
  )!.image!;
const noPods = () =>
  waitUntil('no Open WebUI pod left', async () => ((await listPods(kc, ns, SELECTOR)).length === 0 ? true : undefined), {
    timeoutMs: 180_000,
    intervalMs: 1000,
  });
const twoReady = (image: string) =>
  waitUntil(
    `two Open WebUI pods of ${image} Ready`,
    async () => {
      const pods = (await listPods(kc, ns, SELECTOR)).filter((p) => !p.metadata?.deletionTimestamp);
      return pods.length === 2 && pods.every((p) => isPodReady(p) && p.spec!.containers[0]!.image === image) ? pods : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 2000 },
  );

let pinnedImage = '';
let pinnedEnv: Env = {};
const made = { revision: '', token: '', chatId: '', chatTitle: '', fileId: '', vectorColumn: '' };
const after = { pods: [] as k8s.V1Pod[], logs: new Map<string, string>(), seconds: 0 };

beforeAll(async () => {
  pinnedImage = await currentImage();
  pinnedEnv = await currentEnv();
  const [previous] = await previousImageEntries(stack.images.mode, stack.clusterId, log, ['ghcr.io/open-webui/open-webui']);
  if (!previous) throw new Error('no earlier Open WebUI release to start from');
  const previousImage = `${previous.newName}:${previous.newTag}`;

  // The earlier release on an empty database, two replicas, with a user's data made through it.
  await scale(0);
  await noPods();
  await sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE EXTENSION IF NOT EXISTS vector;');
  await setImage(previousImage, { [VECTOR_LENGTH]: '1536', [BYPASS]: 'True' });
  await scale(2);
  await twoReady(previousImage);
  expect(((await (await fetch(`${url}/api/version`)).json()) as { version: string }).version).toBe(previous.newTag.replace(/^v/, ''));
  const adminToken = (await signIn(url, admin())).token;
  expect(
    (await api(url, '/api/v1/auths/add', adminToken, { method: 'POST', body: JSON.stringify({ ...user, role: 'admin' }) })).status,
  ).toBe(200);
  made.token = (await signIn(url, user)).token;
  made.chatTitle = `written on ${previous.newTag} ${Date.now()}`;
  Object.assign(
    made,
    await saveChatAndFile(url, made.token, {
      title: made.chatTitle,
      model: model.name,
      fileName: 'plan.txt',
      fileText: 'the plan, written before the upgrade',
    }),
  );
  made.revision = await sql('SELECT version_num FROM alembic_version');
  made.vectorColumn = await vectorColumn();

  // The upgrade at its worst: both replicas of this release start at once on that schema.
  await scale(0);
  await noPods();
  await setImage(pinnedImage, pinnedEnv);
  const t0 = Date.now();
  await scale(2);
  after.pods = await twoReady(pinnedImage);
  after.seconds = (Date.now() - t0) / 1000;
  for (const p of after.pods) after.logs.set(p.metadata!.name!, await containerLogs(kc, ns, p.metadata!.name!, 'open-webui', 3000));
  log(
    `two replicas of ${pinnedImage} started together on the ${previous.newTag} schema (${made.revision}): both Ready in ${after.seconds.toFixed(1)} s`,
  );
}, 900_000);

afterAll(async () => {
  // Whatever happened, the Deployment runs the pinned release again at its HPA's minimum.
  if (pinnedImage && ((await currentImage()) !== pinnedImage || JSON.stringify(await currentEnv()) !== JSON.stringify(pinnedEnv)))
    await setImage(pinnedImage, pinnedEnv);
  await waitUntilRolledOut(kc, ns, { timeoutMs: 240_000 });
}, 300_000);

describe('two replicas upgraded together on Postgres', { timeout: 120_000 }, () => {
  it('start together, run each pending migration once between them, and never restart', async () => {
    const started = after.pods.map((p) => Date.parse(String(p.status!.startTime)));
    expect(Math.abs(started[0]! - started[1]!), 'started together').toBeLessThan(5_000);
    const { head, revisions } = await pendingMigrations(kc, ns, after.pods[0]!.metadata!.name!, made.revision);
    expect(revisions.length, `migrations from ${made.revision}`).toBeGreaterThan(0);
    expect(await sql('SELECT version_num FROM alembic_version')).toBe(head);
    const ran = [...after.logs.entries()].map(([pod, text]) => ({ pod, ran: migrationsRun(text).map(([, to]) => to) }));
    log(`migrations run per pod: ${JSON.stringify(ran.map((r) => [r.pod, r.ran.length]))}`);
    // One replica ran them all, in order; the other waited on the lock and found the schema current.
    expect(ran.map((r) => r.ran.length).sort((a, b) => a - b)).toEqual([0, revisions.length]);
    expect(ran.find((r) => r.ran.length > 0)!.ran).toEqual(revisions);
    for (const p of await listPods(kc, ns, SELECTOR)) {
      for (const c of p.status?.containerStatuses ?? []) expect(c.restartCount, `${p.metadata!.name} restarts`).toBe(0);
    }
  });

  it("resize the earlier release's empty vector table to the embedding model's dimension, once", async () => {
    expect(made.vectorColumn).toBe('vector(1536)');
    expect(await vectorColumn()).toBe(`vector(${pinnedEnv[VECTOR_LENGTH]})`);
    const resized = [...after.logs.values()].filter((text) => text.includes(`resized from 1536 to ${pinnedEnv[VECTOR_LENGTH]} dimensions`));
    expect(resized).toHaveLength(1);
  });

  it('keep the user, their chat and their file, the session is valid or cleanly refused, and the chat continues', async () => {
    const { token } = await signIn(url, user);
    const found = await readChatAndFile(url, token, made);
    expect(found.chats).toContainEqual([made.chatId, made.chatTitle]);
    expect(found.messages.map((m) => m.content)).toEqual(['first question', 'first answer']);
    expect(found.file).toEqual({ status: 200, text: 'the plan, written before the upgrade' });
    const old = await fetch(`${url}/api/v1/auths/`, { headers: { authorization: `Bearer ${made.token}` } });
    log(`the session from before the upgrade: HTTP ${old.status}`);
    expect([200, 401]).toContain(old.status);
    expect(old.headers.get('content-type')).toMatch(/application\/json/);
    const client = new OpenAI({ baseURL: `${url}/api`, apiKey: token, maxRetries: 0 });
    expect(await streamChat(client, model.name, 'after the upgrade')).toEqual({
      text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'after the upgrade' }] }),
    });
  });
});
