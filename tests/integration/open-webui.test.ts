// Open WebUI as a user meets it: the headless admin signs in, sees LiteLLM's models, chats with
// streaming through Open WebUI's OpenAI-compatible API, and the chat survives a pod restart.
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { adminToken, admin, kc, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { api, modelIds, signIn } from '../support/open-webui.ts';
import { deletePod, podOf, waitUntilAppPodReady } from '../../dev/lib/kube/pod.ts';

const webui = stack.urls.openWebui;

describe('Open WebUI', { timeout: 60_000 }, () => {
  it('signs in the headless admin, whose role is admin', async () => {
    const { token, role } = await signIn(webui, admin());
    expect(role).toBe('admin');
    const me = await api<{ email: string; role: string }>(webui, '/api/v1/auths/', token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: admin().email, role: 'admin' });
  });

  it('refuses its API without a token, and sign-up is closed', async () => {
    const models = await fetch(`${webui}/api/models`);
    expect(models.status).toBe(401);
    const signup = await fetch(`${webui}/api/v1/auths/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Mallory', email: 'mallory@example.com', password: 'Passw0rd!Passw0rd!' }),
    });
    expect(signup.status).toBe(403);
  });

  it('lists LiteLLM\'s models', async () => {
    expect(await modelIds(webui, '/api/models', await adminToken())).toEqual(configuredModels().map((m) => m.name).sort());
  });

  it('streams a chat completion through its OpenAI-compatible API', async () => {
    const token = await adminToken();
    const model = configuredModels()[2] ?? configuredModels()[0]!;
    const prompt = 'Say hello through Open WebUI';
    const client = new OpenAI({ baseURL: `${webui}/api`, apiKey: token, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: model.name, messages: [{ role: 'user', content: prompt }], stream: true });
    const parts: string[] = [];
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta?.content;
      if (text) parts.push(text);
    }
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.join('')).toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: prompt }] }));
    // Without a token the same call is refused.
    const anonymous = new OpenAI({ baseURL: `${webui}/api`, apiKey: 'not-a-token', maxRetries: 0 });
    await expect(anonymous.chat.completions.create({ model: model.name, messages: [{ role: 'user', content: prompt }] })).rejects.toMatchObject({ status: 401 });
  });
});

describe('persistence', { timeout: 300_000 }, () => {
  it('keeps a saved chat, and the session, across the Open WebUI pod being deleted', async () => {
    const token = await adminToken();
    const title = `persisted ${Date.now()}`;
    const created = await api<{ id: string }>(webui, '/api/v1/chats/new', token, {
      method: 'POST',
      body: JSON.stringify({ chat: { title, models: [configuredModels()[0]!.name], messages: [{ role: 'user', content: 'remember me' }] } }),
    });
    expect(created.status).toBe(200);
    const id = created.body.id;

    const old = (await podOf(kc, stack.namespace, 'open-webui')).metadata!.name!;
    await deletePod(kc, stack.namespace, old, 30);
    await waitUntilAppPodReady(kc, stack.namespace, 'open-webui', { exclude: [old], timeoutMs: 240_000, intervalMs: 2000 });

    // The same token still works (stable WEBUI_SECRET_KEY) and the chat is still there (PVC).
    const read = await api<{ id: string; chat: { title: string } }>(webui, `/api/v1/chats/${id}`, token);
    expect(read.status).toBe(200);
    expect(read.body.chat.title).toBe(title);
  });
});
