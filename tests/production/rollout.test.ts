// A rolling update under traffic: while two clients keep streaming chats through Open WebUI's
// Service (Open WebUI -> LiteLLM's Service -> the fake upstream), both Deployments are restarted
// the way `kubectl rollout restart` does it. Every request must succeed and every stream must
// arrive whole, which takes the manifests' graceful-shutdown settings (preStop, grace period).
// Each stream opens its own connection. A client that reuses a kept-alive connection can send a
// request at the instant a stopping server closes it unread ("other side closed"); browsers retry
// such a request on a new connection, and that race belongs to HTTP/1.1 keep-alive, not to the
// rollout, so the test does not measure it.
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { adminToken, kc, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { restartDeployment, waitUntilRolledOut } from '../../lib/kube/rollout.ts';

const ns = stack.namespace;
const APPS = ['open-webui', 'litellm'];
const STREAMS = 2;
// About 60 words: a reply streams for a couple of seconds, so streams are in flight while pods stop.
const PROMPT = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

const podNames = async (app: string) => (await listPods(kc, ns, `app.kubernetes.io/name=${app}`)).map((p) => p.metadata!.name!);

describe('rolling update under traffic', { timeout: 420_000 }, () => {
  it('restarts both Deployments with zero failed requests and zero cut-off streams', async () => {
    const model = configuredModels()[0]!;
    const want = expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: PROMPT }] });
    const noKeepAlive = new Agent({ pipelining: 0 }); // undici: 0 = a new connection per request
    const client = new OpenAI({
      baseURL: `${stack.urls.openWebui}/api`,
      apiKey: await adminToken(),
      maxRetries: 0,
      timeout: 60_000,
      fetch: ((url: string, init: Record<string, unknown>) =>
        undiciFetch(url, { ...init, dispatcher: noKeepAlive })) as unknown as typeof fetch,
    });
    const failures: string[] = [];
    let served = 0;
    let running = true;

    const streamOnce = async () => {
      const stream = await client.chat.completions.create({
        model: model.name,
        messages: [{ role: 'user', content: PROMPT }],
        stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      if (text !== want) throw new Error(`cut-off or wrong stream: got ${text.length} of ${want.length} characters`);
    };
    const loop = async (n: number) => {
      while (running) {
        try {
          await streamOnce();
          served++;
        } catch (err) {
          const cause = (err as { cause?: { message?: string; code?: string; cause?: { code?: string; message?: string } } }).cause;
          failures.push(
            `stream ${n}: ${(err as Error).message}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''} ${cause.cause?.code ?? ''} ${cause.cause?.message ?? ''})` : ''} at ${new Date().toISOString()}`,
          );
        }
      }
    };

    const before = Object.fromEntries(await Promise.all(APPS.map(async (a) => [a, await podNames(a)] as const)));
    const loops = Array.from({ length: STREAMS }, (_, n) => loop(n));
    // Traffic first, so the restart meets requests in flight.
    while (served < STREAMS * 2 && failures.length === 0) await new Promise((r) => setTimeout(r, 200));
    const servedBefore = served;
    const t0 = Date.now();
    await Promise.all(APPS.map((app) => restartDeployment(kc, ns, app)));
    await waitUntilRolledOut(kc, ns, { timeoutMs: 300_000 });
    // Old pods drain after the rollout counts as done: keep the traffic until they are gone.
    for (;;) {
      const names = (await Promise.all(APPS.map(podNames))).flat();
      if (!names.some((n) => Object.values(before).flat().includes(n))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const seconds = (Date.now() - t0) / 1000;
    running = false;
    await Promise.all(loops);
    await noKeepAlive.close();
    console.log(
      `[production] rollout restart of ${APPS.join(' and ')}: ${seconds.toFixed(1)} s until the old pods were gone; ${served - servedBefore} streams served meanwhile (${served} in all), ${failures.length} failed`,
    );

    expect(failures).toEqual([]);
    expect(served - servedBefore).toBeGreaterThan(STREAMS);
    for (const app of APPS) {
      const after = await podNames(app);
      // The HPA owns the count, and this traffic may raise it: two at least.
      expect(after.length).toBeGreaterThanOrEqual(2);
      expect(
        after.filter((n) => before[app]!.includes(n)),
        `${app}: every pod replaced`,
      ).toEqual([]);
    }
  });
});
