// Losing the LiteLLM pod under traffic (the dev overlay runs one replica): a stream in flight
// ends, completed or with an error, never hanging; new requests succeed once the replacement is
// Ready. The gap a client sees is printed (a figure, not asserted). Open WebUI's pod loss is in
// open-webui.test.ts (the chat and the session survive).
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { kc, masterKey, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';
import { streamChat, type StreamedChat } from '../support/open-webui.ts';
import { deletePod, podOf, waitUntilAppPodReady } from '../../lib/kube/pod.ts';

const model = configuredModels()[0]!;
const client = () => new OpenAI({ baseURL: `${stack.urls.litellm}/v1`, apiKey: masterKey(), maxRetries: 0, timeout: 90_000 });

const chat = (prompt: string) => streamChat(client(), model.name, prompt);

describe('the LiteLLM pod lost under traffic', { timeout: 300_000 }, () => {
  it('ends the stream in flight without a hang, and serves again once the replacement is Ready', async () => {
    await resetUpstream();
    // A stream still running when the pod goes: the fake stalls it for 5 s after two tokens.
    const prompt = '[[fault stall delay_ms=5000 after_tokens=2]] still streaming?';
    const t0 = Date.now();
    const inFlight = chat(prompt);
    await expect.poll(async () => (await upstreamRequests()).length, { timeout: 20_000, interval: 200 }).toBe(1);

    const old = (await podOf(kc, stack.namespace, 'litellm')).metadata!.name!;
    const deletedAt = Date.now();
    await deletePod(kc, stack.namespace, old, 30);
    const ended = await inFlight;
    const endedAfter = (Date.now() - t0) / 1000;
    // Completed (uvicorn finishes what it started on SIGTERM) or failed: either way it ended.
    expect(
      ended.text === expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: prompt }] }) ||
        ended.error !== undefined,
      JSON.stringify(ended),
    ).toBe(true);
    expect(endedAfter).toBeLessThan(60);

    await waitUntilAppPodReady(kc, stack.namespace, 'litellm', { exclude: [old], timeoutMs: 180_000, intervalMs: 1000 });
    const readyAfter = (Date.now() - deletedAt) / 1000;
    let served: StreamedChat = { text: '' };
    await expect
      .poll(async () => (served = await chat('back again?')).text, { timeout: 60_000, interval: 1000 })
      .toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'back again?' }] }));
    const gap = (Date.now() - deletedAt) / 1000;
    console.log(
      `[pod-loss] stream in flight ${ended.error ? `failed (${ended.error.message.slice(0, 80)})` : 'completed'} ${endedAfter.toFixed(1)} s after it began; ` +
        `replacement Ready ${readyAfter.toFixed(1)} s and first answer ${gap.toFixed(1)} s after the deletion`,
    );
    expect(served.error).toBeUndefined();
  });
});
