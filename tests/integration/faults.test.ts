// What a user gets when Anthropic is busy or broken: the fake upstream answers with Anthropic's
// real failures (fake-anthropic/src/faults.ts) and LiteLLM's router settings
// (manifests/base/litellm-config.yaml) decide. A transient failure is retried (honouring
// retry-after) and the client gets the answer; a model that stays overloaded falls back to the
// next; when nothing helps, a clear JSON error with a status, in bounded time. The fake's request
// log shows which attempts were made. After each case the next plain request succeeds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import type { FaultRule } from '../../fake-anthropic/src/faults.ts';
import { adminToken, masterKey, stack } from '../support/live.ts';
import { streamChat as streamChatOf } from '../support/open-webui.ts';
import { configuredModels, type ConfiguredModel } from '../support/models.ts';
import { resetUpstream, setFaults, upstreamRequests } from '../support/fake-upstream.ts';

const model = (name: string): ConfiguredModel => {
  const m = configuredModels().find((c) => c.name === name);
  if (!m) throw new Error(`${name} is not configured`);
  return m;
};
const SONNET = model('claude-sonnet-5-5');
const HAIKU = model('claude-haiku-5-5');

const litellm = () => new OpenAI({ baseURL: `${stack.urls.litellm}/v1`, apiKey: masterKey(), maxRetries: 0, timeout: 90_000 });

/** [model, status, fault] of each /v1/messages attempt the fake saw. */
async function attempts(): Promise<[string, number, string | null][]> {
  return (await upstreamRequests())
    .filter((r) => r.path.startsWith('/v1/messages'))
    .map((r) => [String((r.body as { model?: string }).model), r.status, r.fault ?? null]);
}

const streamChat = (client: OpenAI, m: ConfiguredModel, prompt: string, extra?: Record<string, unknown>) =>
  streamChatOf(client, m.name, prompt, extra);
const reply = (m: ConfiguredModel, prompt: string) =>
  expectedReply({ model: m.anthropicId, messages: [{ role: 'user', content: prompt }] });

beforeEach(async () => {
  await setFaults([]);
  await resetUpstream();
});

afterEach(async () => {
  await setFaults([]);
  // The stack is healthy again: a plain request succeeds.
  const ok = await streamChat(litellm(), SONNET, 'all well again?');
  expect(ok).toEqual({ text: reply(SONNET, 'all well again?') });
});

describe('LiteLLM under upstream faults', { timeout: 120_000 }, () => {
  it.each([
    ['529 overloaded_error', { kind: 'overloaded' }, 529, 'overloaded'],
    ['500 api_error', { kind: 'api_error' }, 500, 'api_error'],
  ] as const)('retries a passing %s and streams the answer', async (_name, fault, status, kind) => {
    await setFaults([{ ...fault, model: SONNET.anthropicId, times: 1 } as FaultRule]);
    const prompt = `survive a ${kind}`;
    const t0 = Date.now();
    expect(await streamChat(litellm(), SONNET, prompt)).toEqual({ text: reply(SONNET, prompt) });
    console.log(`[faults] one ${status} ${kind}: answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(await attempts()).toEqual([
      [SONNET.anthropicId, status, kind],
      [SONNET.anthropicId, 200, null],
    ]);
  });

  it('waits for retry-after on a 429 rate_limit_error, then streams the answer', async () => {
    await setFaults([{ kind: 'rate_limit', model: SONNET.anthropicId, times: 1, retryAfterSeconds: 3 }]);
    const t0 = Date.now();
    expect(await streamChat(litellm(), SONNET, 'rate limited once')).toEqual({ text: reply(SONNET, 'rate limited once') });
    const waited = Date.now() - t0;
    expect(await attempts()).toEqual([
      [SONNET.anthropicId, 429, 'rate_limit'],
      [SONNET.anthropicId, 200, null],
    ]);
    const [first, second] = (await upstreamRequests()).filter((r) => r.path.startsWith('/v1/messages'));
    console.log(
      `[faults] 429 with retry-after 3: answered after ${(waited / 1000).toFixed(1)} s, retried after ${((second!.receivedAt - first!.receivedAt) / 1000).toFixed(1)} s`,
    );
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(2_900);
  });

  it('falls back to the next model when one stays overloaded', async () => {
    await setFaults([{ kind: 'overloaded', model: SONNET.anthropicId }]);
    const prompt = 'sonnet is overloaded';
    const t0 = Date.now();
    expect(await streamChat(litellm(), SONNET, prompt)).toEqual({ text: reply(HAIKU, prompt) });
    console.log(`[faults] sonnet overloaded: haiku's answer after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(await attempts()).toEqual([
      [SONNET.anthropicId, 529, 'overloaded'],
      [SONNET.anthropicId, 529, 'overloaded'],
      [HAIKU.anthropicId, 200, null],
    ]);
  });

  it('gives a clear JSON error with a status when every attempt and the fallback fail', async () => {
    const t0 = Date.now();
    const res = await fetch(`${stack.urls.litellm}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${masterKey()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: SONNET.name, messages: [{ role: 'user', content: '[[fault overloaded]] always' }] }),
    });
    const seconds = (Date.now() - t0) / 1000;
    const body = await res.text();
    console.log(
      `[faults] always overloaded: HTTP ${res.status} after ${seconds.toFixed(1)} s; attempts ${JSON.stringify(await attempts())}`,
    );
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(body)).toMatchObject({ error: { message: expect.stringMatching(/overloaded/i) } });
    expect(body).not.toMatch(/Traceback|File "\//);
    expect(seconds).toBeLessThan(60);
    const models = new Set((await attempts()).map(([m]) => m));
    expect(models).toEqual(new Set([SONNET.anthropicId, HAIKU.anthropicId]));
  });

  it('turns an upstream that is slow to answer into a timeout error, bounded by the request timeout', async () => {
    // `stream_timeout` in the request body is LiteLLM's per-request limit for streams (the config's: 60 s).
    const prompt = '[[fault slow_first_token delay_ms=20000]] are you there?';
    const t0 = Date.now();
    const got = await streamChat(litellm(), SONNET, prompt, { stream_timeout: 2 });
    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `[faults] slow first token, timeout 2 s: ${JSON.stringify(got).slice(0, 300)} after ${seconds.toFixed(1)} s; attempts ${JSON.stringify(await attempts())}`,
    );
    expect(got.text).toBe('');
    expect(got.error).toMatchObject({ status: 408, message: expect.stringMatching(/timeout|timed out/i) });
    expect(seconds).toBeLessThan(30);
    // Each model was tried (with one retry) before the client was told.
    expect(new Set((await attempts()).map(([m]) => m))).toEqual(new Set([SONNET.anthropicId, HAIKU.anthropicId]));
  });

  it('ends a stream that stalls mid-way with a timeout error, not a hang', async () => {
    const prompt = '[[fault stall delay_ms=20000 after_tokens=2]] one two three four five';
    const t0 = Date.now();
    const got = await streamChat(litellm(), SONNET, prompt, { stream_timeout: 2 });
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[faults] stream stalled, timeout 2 s: ${JSON.stringify(got).slice(0, 300)} after ${seconds.toFixed(1)} s`);
    expect(got.text).not.toBe(reply(SONNET, prompt));
    expect(got.error?.message).toMatch(/timeout|timed out/i);
    expect(seconds).toBeLessThan(30);
  });

  it('ends a stream the upstream cuts mid-way with an error the client sees, not a hang', async () => {
    const t0 = Date.now();
    const got = await streamChat(litellm(), SONNET, '[[fault cut after_tokens=2]] one two three four five');
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[faults] stream cut: ${JSON.stringify(got)} after ${seconds.toFixed(1)} s`);
    expect(got.text).not.toBe(reply(SONNET, '[[fault cut after_tokens=2]] one two three four five'));
    expect(got.error).toBeDefined();
    expect(seconds).toBeLessThan(60);
  });
});

describe('Open WebUI under upstream faults', { timeout: 120_000 }, () => {
  const webui = async () =>
    new OpenAI({ baseURL: `${stack.urls.openWebui}/api`, apiKey: await adminToken(), maxRetries: 0, timeout: 90_000 });

  it('streams the answer after LiteLLM retried a passing 529', async () => {
    await setFaults([{ kind: 'overloaded', model: SONNET.anthropicId, times: 1 }]);
    expect(await streamChat(await webui(), SONNET, 'through open webui')).toEqual({ text: reply(SONNET, 'through open webui') });
    expect((await attempts()).map(([, status]) => status)).toEqual([529, 200]);
  });

  it('shows a clear error, not a page or a traceback, when nothing helps', async () => {
    const token = await adminToken();
    const t0 = Date.now();
    const res = await fetch(`${stack.urls.openWebui}/api/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: SONNET.name, messages: [{ role: 'user', content: '[[fault overloaded]] always' }] }),
    });
    const body = await res.text();
    console.log(
      `[faults] Open WebUI, always overloaded: HTTP ${res.status} after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${body.slice(0, 300)}`,
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toMatch(/overloaded/i);
    expect(body).not.toMatch(/Traceback|File "\/|<html/i);
  });
});
