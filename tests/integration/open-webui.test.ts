// Open WebUI as a user meets it: the headless admin signs in, sees LiteLLM's models, chats with
// streaming through Open WebUI's OpenAI-compatible API, gets a clear 4xx for bad input, and the
// chat and session survive the pod being lost mid-stream.
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { adminToken, admin, kc, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { api, modelIds, signIn, streamChat } from '../support/open-webui.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';
import { deletePod, podOf, waitUntilAppPodReady } from '../../lib/kube/pod.ts';

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

  it("lists LiteLLM's models", async () => {
    expect(await modelIds(webui, '/api/models', await adminToken())).toEqual(
      configuredModels()
        .map((m) => m.name)
        .sort(),
    );
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
    await expect(
      anonymous.chat.completions.create({ model: model.name, messages: [{ role: 'user', content: prompt }] }),
    ).rejects.toMatchObject({ status: 401 });
  });
});

describe("bad input at Open WebUI's API", { timeout: 60_000 }, () => {
  const model = configuredModels()[0]!;
  const post = async (token: string, body: string) => {
    const res = await fetch(`${webui}/api/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  const chatCount = async (token: string) => (await api<unknown[]>(webui, '/api/v1/chats/', token)).body.length;

  it('answers a 4xx with a clear JSON message for each, saves nothing, and the next chat works', async () => {
    const token = await adminToken();
    await resetUpstream();
    const chatsBefore = await chatCount(token);
    const cases = [
      { what: 'malformed JSON', token, body: `{"model": "${model.name}", "messages": [`, status: 422, says: /JSON decode error/ },
      {
        what: 'an unknown model',
        token,
        body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        status: 400,
        says: /Model not found/,
      },
      {
        what: 'a wrong token',
        token: 'eyJhbGciOiJIUzI1NiJ9.e30.wrong',
        body: JSON.stringify({ model: model.name, messages: [{ role: 'user', content: 'hi' }] }),
        status: 401,
        says: /Unauthorized/,
      },
    ];
    for (const c of cases) {
      const r = await post(c.token, c.body);
      expect({ what: c.what, status: r.status, type: r.type }).toEqual({ what: c.what, status: c.status, type: 'application/json' });
      expect(r.text, c.what).toMatch(c.says);
      expect(r.text, c.what).not.toMatch(/Traceback|File "\//);
    }
    // None of them reached the upstream.
    expect(await upstreamRequests()).toEqual([]);

    // A message over the upstream's size limit (the fake's 10 MiB; Anthropic's is 32 MB) goes all
    // the way and comes back as a 4xx naming Anthropic's request_too_large, streamed or not.
    const huge = 'x '.repeat(6_000_000);
    for (const stream of [true, false]) {
      const t0 = Date.now();
      const r = await post(token, JSON.stringify({ model: model.name, stream, messages: [{ role: 'user', content: huge }] }));
      expect({ stream, status: r.status, type: r.type }).toEqual({ stream, status: 400, type: 'application/json' });
      expect(r.text).toMatch(/request_too_large/);
      expect(r.text).not.toMatch(/Traceback|File "\//);
      console.log(`[open-webui] a 12 MB message (stream ${stream}): ${r.status} after ${Date.now() - t0} ms`);
    }
    // Nothing was saved half-way: no chat appeared.
    expect(await chatCount(token)).toBe(chatsBefore);
    const client = new OpenAI({ baseURL: `${webui}/api`, apiKey: token, maxRetries: 0 });
    expect(await streamChat(client, model.name, 'still fine?')).toEqual({
      text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'still fine?' }] }),
    });
  });
});

describe('persistence', { timeout: 300_000 }, () => {
  it('ends a stream in flight when the pod is lost, serves again once the replacement is Ready, and keeps the saved chat and the session', async () => {
    const token = await adminToken();
    const title = `persisted ${Date.now()}`;
    const created = await api<{ id: string }>(webui, '/api/v1/chats/new', token, {
      method: 'POST',
      body: JSON.stringify({
        chat: { title, models: [configuredModels()[0]!.name], messages: [{ role: 'user', content: 'remember me' }] },
      }),
    });
    expect(created.status).toBe(200);
    const id = created.body.id;

    // A stream through Open WebUI still running when its pod goes: the fake stalls it for 5 s.
    await resetUpstream();
    const model = configuredModels()[0]!;
    const client = new OpenAI({ baseURL: `${webui}/api`, apiKey: token, maxRetries: 0, timeout: 90_000 });
    const t0 = Date.now();
    const inFlight = streamChat(client, model.name, '[[fault stall delay_ms=5000 after_tokens=2]] still streaming?');
    await expect.poll(async () => (await upstreamRequests()).length, { timeout: 20_000, interval: 200 }).toBe(1);

    const old = (await podOf(kc, stack.namespace, 'open-webui')).metadata!.name!;
    const deletedAt = Date.now();
    await deletePod(kc, stack.namespace, old, 30);
    const ended = await inFlight;
    const endedAfter = (Date.now() - t0) / 1000;
    // It ended, completed (uvicorn finishes what it started on SIGTERM) or with an error, never hanging.
    const want = expectedReply({
      model: model.anthropicId,
      messages: [{ role: 'user', content: '[[fault stall delay_ms=5000 after_tokens=2]] still streaming?' }],
    });
    expect(ended.text === want || ended.error !== undefined, JSON.stringify(ended)).toBe(true);
    expect(endedAfter).toBeLessThan(60);
    await waitUntilAppPodReady(kc, stack.namespace, 'open-webui', { exclude: [old], timeoutMs: 240_000, intervalMs: 1000 });
    const readyAfter = (Date.now() - deletedAt) / 1000;
    await expect
      .poll(async () => (await streamChat(client, model.name, 'back again?')).text, { timeout: 60_000, interval: 1000 })
      .toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'back again?' }] }));
    console.log(
      `[pod-loss] Open WebUI: stream in flight ${ended.error ? `failed (${ended.error.message.slice(0, 80)})` : 'completed'} ${endedAfter.toFixed(1)} s after it began; ` +
        `replacement Ready ${readyAfter.toFixed(1)} s and first answer ${((Date.now() - deletedAt) / 1000).toFixed(1)} s after the deletion`,
    );

    // The same token still works (stable WEBUI_SECRET_KEY) and the chat is still there (PVC).
    const read = await api<{ id: string; chat: { title: string } }>(webui, `/api/v1/chats/${id}`, token);
    expect(read.status).toBe(200);
    expect(read.body.chat.title).toBe(title);
  });
});
