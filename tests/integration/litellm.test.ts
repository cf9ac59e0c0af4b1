// LiteLLM through its port-forward with the OpenAI SDK, the way Open WebUI and users call it.
import { beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { masterKey, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';

const client = (apiKey: string) => new OpenAI({ baseURL: `${stack.urls.litellm}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

describe('LiteLLM model list', { timeout: 30_000 }, () => {
  it('lists exactly the configured models to the master key', async () => {
    const ids: string[] = [];
    for await (const m of client(masterKey()).models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(
      configuredModels()
        .map((m) => m.name)
        .sort(),
    );
  });

  it('refuses a request without a key with an authentication error', async () => {
    const res = await fetch(`${stack.urls.litellm}/v1/models`);
    expect(res.status).toBe(401);
    expect(JSON.stringify(await res.json())).toMatch(/auth/i);
  });

  it('refuses a wrong key; without a database LiteLLM says so with a 400 (its source: user_api_key_auth.py)', async () => {
    // LiteLLM checks a non-master key against its key database; with none configured (this
    // stack has none) it refuses with 400 "No connected db." instead of 401. Still refused.
    for (const key of ['sk-wrong-key', 'not-even-sk']) {
      const err = await client(key)
        .models.list()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err).toMatchObject({ status: 400 });
      expect((err as Error).message).toMatch(/No connected db/);
    }
  });
});

describe('streamed chat through LiteLLM', { timeout: 60_000 }, () => {
  beforeEach(resetUpstream);

  it('streams the upstream reply token by token, translated from Anthropic SSE', async () => {
    const model = configuredModels()[0]!;
    const prompt = 'Name three colours of the rainbow';
    const stream = await client(masterKey()).chat.completions.create({
      model: model.name,
      messages: [{ role: 'user', content: prompt }],
      stream: true,
    });
    const chunks: { at: number; text: string }[] = [];
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta?.content;
      if (text) chunks.push({ at: Date.now(), text });
    }
    const reply = chunks.map((c) => c.text).join('');
    expect(reply).toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: prompt }] }));
    expect(chunks.length).toBeGreaterThanOrEqual(3);

    const seen = (await upstreamRequests()).filter((r) => r.path === '/v1/messages');
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req).toMatchObject({ method: 'POST', stream: true, apiKeyValid: true, status: 200 });
    expect(req.headers['anthropic-version']).toBe('2023-06-01');
    expect((req.body as { model: string }).model).toBe(model.anthropicId);
    expect(JSON.stringify((req.body as { messages: unknown }).messages)).toContain(prompt);
    // Streaming, not buffering: the first chunk reached us before the upstream wrote its last token.
    expect(req.lastTokenAt).toBeGreaterThan(chunks[0]!.at);
  });

  it('maps every configured model to its Anthropic id', async () => {
    for (const m of configuredModels()) {
      const res = await client(masterKey()).chat.completions.create({ model: m.name, messages: [{ role: 'user', content: 'ping' }] });
      expect(res.choices[0]!.message.content).toBe(expectedReply({ model: m.anthropicId, messages: [{ role: 'user', content: 'ping' }] }));
    }
    const models = (await upstreamRequests()).map((r) => (r.body as { model: string }).model);
    expect(models).toEqual(configuredModels().map((m) => m.anthropicId));
  });
});

describe('bad input', { timeout: 60_000 }, () => {
  beforeEach(resetUpstream);

  it("gets the API's error for a wrong key, a malformed body and an unknown model, and the stack stays healthy", async () => {
    const wrong = await fetch(`${stack.urls.litellm}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ model: configuredModels()[0]!.name, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toMatch(/No connected db/);

    const malformed = await fetch(`${stack.urls.litellm}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey()}`, 'content-type': 'application/json' },
      body: '{"model": "claude-sonnet-5-5", "messages": [',
    });
    expect([400, 422]).toContain(malformed.status);
    expect(JSON.stringify(await malformed.json())).toMatch(/error|detail/i);

    await expect(
      client(masterKey()).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({ status: 400 });

    // None of the bad requests reached the upstream.
    expect(await upstreamRequests()).toEqual([]);
    expect((await fetch(`${stack.urls.litellm}/health/readiness`)).status).toBe(200);
    const ok = await client(masterKey()).chat.completions.create({
      model: configuredModels()[0]!.name,
      messages: [{ role: 'user', content: 'still there?' }],
    });
    expect(ok.choices[0]!.message.content).toContain('Echo: still there?');
  });
});
