// An upgrade with data in place, as a user makes it: a stack of the dev overlay (SQLite) in its
// own namespace on the dev node, first at the earlier releases (images/open-webui-previous,
// images/litellm-previous), where a user, a chat, a file and a setting are made; then these
// manifests are applied over it. Open WebUI's schema must reach the new head with each pending
// migration run once, the data and the user's sign-in must survive, the session from before is
// either still valid or cleanly refused, and the chat continues through the new LiteLLM.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { stringify } from 'yaml';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { stackSecret, up, type Stack } from '../../dev/lib/stack.ts';
import { containerLogs, execIn, podOf } from '../../lib/kube/pod.ts';
import { pinnedImages } from '../../lib/pins.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { stack as devStack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { api, readChatAndFile, saveChatAndFile, signIn, streamChat } from '../support/open-webui.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { migrationsRun, pendingMigrations, previousImageEntries } from '../support/upgrade.ts';

const NAMESPACE = 'chat-upgrade';
const model = configuredModels()[0]!;
const user = { name: 'Grace Upgrade', email: `grace-${Date.now()}@example.com`, password: `Pw-${randomSecret('')}` };
const FILE_TEXT = 'Minutes of the meeting, written before the upgrade.';
const pinned = pinnedImages();
const current = {
  openWebui: pinned['ghcr.io/open-webui/open-webui']!.replace(/^v/, ''),
  litellm: pinned['ghcr.io/berriai/litellm-non_root']!.replace(/^v/, ''),
};

let ws: Workspace | undefined;
let stack: Stack | undefined;
let dir = '';
let secretsDir = '';
const earlier = { openWebui: '', litellm: '' };
const before = { openWebui: '', litellm: '', revision: '', token: '', chatId: '', chatTitle: '', fileId: '' };
const after = { revision: '', pod: '', log: '', seconds: 0 };

const log = (l: string) => console.log(`[upgrade] ${l}`);
const versions = async (s: Stack) => ({
  openWebui: ((await (await fetch(`${s.info.urls.openWebui}/api/version`)).json()) as { version: string }).version,
  // the public readiness probe says no more than healthy; its details need the master key
  litellm: (
    (await (
      await fetch(`${s.info.urls.litellm}/health/readiness/details`, {
        headers: { authorization: `Bearer ${stackSecret(secretsDir, 'litellm.env', 'LITELLM_MASTER_KEY')}` },
      })
    ).json()) as { litellm_version: string }
  ).litellm_version,
});
const revision = async (s: Stack) => {
  const pod = (await podOf(s.kc, NAMESPACE, 'open-webui')).metadata!.name!;
  const r = await execIn(s.kc, NAMESPACE, pod, 'open-webui', [
    'python3',
    '-c',
    'import sqlite3; print(sqlite3.connect("/app/backend/data/webui.db").execute("select version_num from alembic_version").fetchone()[0])',
  ]);
  if (r.code !== 0) throw new Error(`alembic_version in ${pod}: ${r.stderr}`);
  return r.stdout.trim();
};
const writeKustomization = (images: unknown[]) =>
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({ namespace: NAMESPACE, resources: ['../manifests/local/dev'], ...(images.length ? { images } : {}) }),
  );
const bringUp = (tag: string) =>
  up({
    overlay: 'dev',
    dir,
    secretsDir,
    namespace: NAMESPACE,
    kubeconfig: devStack.kubeconfig,
    hermeticImagesLoaded: devStack.images.mode === 'hermetic',
    log: (l) => log(`${tag}: ${l}`),
  });

beforeAll(async () => {
  ws = await createWorkspace();
  dir = join(ws.root, 'dev-upgrade');
  mkdirSync(dir, { recursive: true });
  secretsDir = join(ws.localDir, 'dev');
  fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') });

  // The earlier releases, with these manifests otherwise.
  const entries = await previousImageEntries(devStack.images.mode, devStack.clusterId, log);
  const tagOf = (name: string) => entries.find((e) => e.name === name)!.newTag.replace(/^v/, '');
  Object.assign(earlier, { openWebui: tagOf('ghcr.io/open-webui/open-webui'), litellm: tagOf('ghcr.io/berriai/litellm-non_root') });
  writeKustomization(entries);
  stack = await bringUp('previous');
  Object.assign(before, await versions(stack));
  const url = stack.info.urls.openWebui;
  const admin = await signIn(url, {
    email: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_EMAIL'),
    password: stackSecret(secretsDir, 'admin.env', 'WEBUI_ADMIN_PASSWORD'),
  });
  const added = await api(url, '/api/v1/auths/add', admin.token, { method: 'POST', body: JSON.stringify({ ...user, role: 'admin' }) });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  before.token = (await signIn(url, user)).token;
  before.chatTitle = `written before the upgrade ${Date.now()}`;
  Object.assign(
    before,
    await saveChatAndFile(url, before.token, { title: before.chatTitle, model: model.name, fileName: 'minutes.txt', fileText: FILE_TEXT }),
  );
  const settings = await api(url, '/api/v1/users/user/settings/update', before.token, {
    method: 'POST',
    body: JSON.stringify({ ui: { upgradeMarker: 'set before the upgrade' } }),
  });
  expect(settings.status).toBe(200);
  // The earlier stack chats end to end too: what is upgraded is a working stack.
  const client = new OpenAI({ baseURL: `${url}/api`, apiKey: before.token, maxRetries: 0 });
  expect(await streamChat(client, model.name, 'before the upgrade')).toEqual({
    text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'before the upgrade' }] }),
  });
  before.revision = await revision(stack);

  // The upgrade: these manifests applied over it, as `kubectl apply -k` would.
  await stack.detach();
  const t0 = Date.now();
  writeKustomization([]);
  stack = await bringUp('current');
  after.seconds = (Date.now() - t0) / 1000;
  after.revision = await revision(stack);
  const pod = await podOf(stack.kc, NAMESPACE, 'open-webui');
  after.pod = pod.metadata!.name!;
  after.log = await containerLogs(stack.kc, NAMESPACE, after.pod, 'open-webui', 2000);
  log(
    `Open WebUI ${before.openWebui} -> ${current.openWebui}, LiteLLM ${before.litellm} -> ${current.litellm}: applied and rolled out in ${after.seconds.toFixed(1)} s; schema ${before.revision} -> ${after.revision}`,
  );
}, 600_000);

afterAll(async () => {
  await stack?.stop({ log: (l) => log(l) });
  ws?.[Symbol.dispose]();
}, 180_000);

describe('upgrade from the earlier releases with data in place (SQLite)', { timeout: 120_000 }, () => {
  it('started from the earlier releases, older than the pins, and now runs the pins', async () => {
    expect({ openWebui: before.openWebui, litellm: before.litellm }).toEqual(earlier);
    expect(earlier.openWebui).not.toBe(current.openWebui);
    expect(earlier.litellm).not.toBe(current.litellm);
    expect(await versions(stack!)).toEqual(current);
  });

  it('ran each pending migration exactly once, in one pod that never restarted, and reached the new head', async () => {
    const { head, revisions } = await pendingMigrations(stack!.kc, NAMESPACE, after.pod, before.revision);
    // The starting point is far enough back that the upgrade migrates (0.12.3 would not: same schema).
    expect(revisions.length, `migrations from ${before.revision} to ${head}`).toBeGreaterThan(0);
    expect(after.revision).toBe(head);
    const ran = migrationsRun(after.log).map(([, to]) => to);
    log(`${ran.length} migrations ran (${before.revision} -> ${head})`);
    expect(ran).toEqual(revisions);
    const pod = await podOf(stack!.kc, NAMESPACE, 'open-webui');
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('keeps the user, their chat, their file and their setting: they sign in with their password and find them', async () => {
    const url = stack!.info.urls.openWebui;
    const { token } = await signIn(url, user);
    const found = await readChatAndFile(url, token, before);
    expect(found.chats).toContainEqual([before.chatId, before.chatTitle]);
    expect(found.messages.map((m) => m.content)).toEqual(['first question', 'first answer']);
    expect(found.file).toEqual({ status: 200, text: FILE_TEXT });
    const settings = await api<{ ui?: { upgradeMarker?: string } }>(url, '/api/v1/users/user/settings', token);
    expect(settings.body.ui?.upgradeMarker).toBe('set before the upgrade');
  });

  it('the session from before the upgrade is either still valid or refused with a JSON 401 that sends the user to sign in', async () => {
    const r = await fetch(`${stack!.info.urls.openWebui}/api/v1/auths/`, { headers: { authorization: `Bearer ${before.token}` } });
    const body = (await r.json()) as { email?: string; detail?: string };
    log(`the session from before the upgrade: HTTP ${r.status} ${r.status === 200 ? '(still valid)' : JSON.stringify(body)}`);
    expect([200, 401]).toContain(r.status);
    if (r.status === 200) expect(body.email).toBe(user.email);
    else expect(body.detail).toEqual(expect.any(String));
  });

  it('continues the chat through the new Open WebUI and LiteLLM, and saves it', async () => {
    const url = stack!.info.urls.openWebui;
    const { token } = await signIn(url, user);
    const client = new OpenAI({ baseURL: `${url}/api`, apiKey: token, maxRetries: 0 });
    const reply = await streamChat(client, model.name, 'after the upgrade');
    expect(reply).toEqual({
      text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'after the upgrade' }] }),
    });
    const messages = [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'after the upgrade' },
      { role: 'assistant', content: reply.text },
    ];
    expect(
      (
        await api(url, `/api/v1/chats/${before.chatId}`, token, {
          method: 'POST',
          body: JSON.stringify({ chat: { title: before.chatTitle, messages } }),
        })
      ).status,
    ).toBe(200);
    const again = await api<{ chat: { messages: unknown[] } }>(url, `/api/v1/chats/${before.chatId}`, token);
    expect(again.body.chat.messages).toHaveLength(4);
  });
});
