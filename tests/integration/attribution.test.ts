// What a chat costs and who asked, as the fake upstream's request log shows it: Open WebUI's
// tasks (a chat's title here; tags, follow-ups and queries take the same path) run on the fast
// model whatever the chat's model, and every request through Open WebUI reaches Anthropic with the
// Open WebUI user's id as metadata.user_id (LiteLLM reads it from X-OpenWebUI-User-Id), never the
// email. A request straight to LiteLLM, with no user behind it, carries none (the control).
import { beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { adminToken, masterKey, stack } from '../support/live.ts';
import { api, streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';

const byName = (name: string) => configuredModels().find((m) => m.name === name)!;
const STRONG = byName('claude-opus-5-5');
const FAST = byName('claude-haiku-5-5');

interface MessagesBody {
  model: string;
  metadata?: { user_id?: string };
}
const messages = async () => (await upstreamRequests()).filter((r) => r.path.startsWith('/v1/messages')).map((r) => r.body as MessagesBody);

describe('attribution and task cost', { timeout: 60_000 }, () => {
  beforeEach(resetUpstream);

  it("a chat's title is generated on the fast model, though the chat is on the strong one", async () => {
    const token = await adminToken();
    // Control: the chat itself goes to the model the user picked.
    const client = new OpenAI({ baseURL: `${stack.urls.openWebui}/api`, apiKey: token, maxRetries: 0 });
    expect((await streamChat(client, STRONG.name, 'What is Kubernetes?')).error).toBeUndefined();
    expect((await messages()).map((b) => b.model)).toEqual([STRONG.anthropicId]);
    await resetUpstream();

    const title = await api<{ choices?: unknown[] }>(stack.urls.openWebui, '/api/v1/tasks/title/completions', token, {
      method: 'POST',
      body: JSON.stringify({ model: STRONG.name, messages: [{ role: 'user', content: 'What is Kubernetes?' }] }),
    });
    expect(title.status).toBe(200);
    expect((await messages()).map((b) => b.model)).toEqual([FAST.anthropicId]);
  });

  it("every request through Open WebUI carries its user's id to Anthropic, and nothing else of the user", async () => {
    const token = await adminToken();
    const me = await api<{ id: string; email: string }>(stack.urls.openWebui, '/api/v1/auths/', token);
    expect(me.status).toBe(200);
    const client = new OpenAI({ baseURL: `${stack.urls.openWebui}/api`, apiKey: token, maxRetries: 0 });
    expect((await streamChat(client, FAST.name, 'who is asking?')).error).toBeUndefined();
    const [body] = await messages();
    expect(body?.metadata).toEqual({ user_id: me.body.id });
    expect(JSON.stringify(await upstreamRequests())).not.toContain(me.body.email);
  });

  it('a request straight to LiteLLM, with no Open WebUI user behind it, carries no user id (control)', async () => {
    const client = new OpenAI({ baseURL: `${stack.urls.litellm}/v1`, apiKey: masterKey(), maxRetries: 0 });
    expect((await streamChat(client, FAST.name, 'no user')).error).toBeUndefined();
    const [body] = await messages();
    expect(body).toBeDefined();
    expect(body!.metadata?.user_id).toBeUndefined();
  });
});
