// Settings as code on the production stack (Postgres-backed persistent config, two replicas):
// the LiteLLM connection (URL and key) is the manifests' and the Secret's on every replica after
// every rollout, whatever an admin or an earlier boot stored; every other setting is the admin
// panel's (replicas.test.ts shows one changed through A in effect on B). Then the LiteLLM master
// key rotated as docs/operations.md says, in three applies of the Secret (LiteLLM accepts a second
// key meanwhile: manifests/base/litellm-key-rotation.py), under chats through the Gateway: not one
// fails; afterwards every replica serves with the new key and LiteLLM refuses the old one. Last, a
// model added to litellm-config.yaml (a setting the manifests own) is offered by every replica after
// the apply, again with no failed chat through the Gateway.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { up } from '../../dev/lib/stack.ts';
import { randomSecret } from '../../lib/secrets.ts';
import { restartDeployment, waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';
import { type Forward } from '../../lib/kube/port-forward.ts';
import { admin, kc, masterKey, stack } from '../support/live.ts';
import { api, modelIds, signIn, streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { sql } from '../support/postgres.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';
import { gatewayClient } from '../support/gateway.ts';
import { PLATFORM_GATEWAY, PUBLIC_ORIGIN } from '../support/production-setup.ts';

const ns = stack.namespace;
const LITELLM_URL = 'http://litellm:4000/v1';
const model = configuredModels()[0]!;

/** The LiteLLM connection Open WebUI's database holds (what every replica sends, read per request). */
async function storedConnection(): Promise<{ urls: string[]; keys: string[] }> {
  const rows = await sql("select key, value::text from config where key in ('openai.api_base_urls', 'openai.api_keys') order by key");
  const byKey = Object.fromEntries(
    rows.split('\n').map((l) => [l.slice(0, l.indexOf('|')), JSON.parse(l.slice(l.indexOf('|') + 1)) as string[]]),
  );
  return { urls: byKey['openai.api_base_urls'] ?? [], keys: byKey['openai.api_keys'] ?? [] };
}

/** What a user runs (kubectl apply -k manifests/local/...): here the harness's apply, which waits for every rollout, then for the old pods to go. */
async function apply(step: string): Promise<string> {
  const t = Date.now();
  const applied = await up({
    overlay: stack.overlay,
    dir: stack.dir,
    secretsDir: stack.secretsDir,
    namespace: ns,
    kubeconfig: stack.kubeconfig,
    hermeticImagesLoaded: stack.images.mode === 'hermetic',
    ports: { openWebui: 0, litellm: 0 },
    log: (l) => console.log(`[settings] ${step}: ${l}`),
  });
  await applied.detach();
  await oldPodsGone();
  return `${step} ${((Date.now() - t) / 1000).toFixed(1)} s`;
}

/**
 * Chats the whole time through the platform's Gateway as a browser sends them: verified TLS to
 * Traefik, kept-alive connections, two at once. `stop()` ends them; `failures` says how they went.
 */
async function gatewayTraffic(): Promise<{ stop(): Promise<void>; served: () => number; failures: string[] }> {
  const gw = await gatewayClient(
    kc,
    new URL(PUBLIC_ORIGIN).hostname,
    readFileSync(join(stack.secretsDir, PLATFORM_GATEWAY.caFile), 'utf8'),
  );
  const { token } = await signIn(gw.httpsOrigin, admin(), gw.fetch);
  const client = new OpenAI({ baseURL: `${gw.httpsOrigin}/api`, apiKey: token, maxRetries: 0, timeout: 60_000, fetch: gw.fetch });
  const want = expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'during the rollout' }] });
  let served = 0;
  let running = true;
  const failures: string[] = [];
  const loop = async () => {
    while (running) {
      const chat = await streamChat(client, model.name, 'during the rollout');
      if (!chat.error && chat.text === want) served++;
      else
        failures.push(
          `${new Date().toISOString()} ${chat.error?.status ?? ''} ${chat.error?.message ?? `got ${chat.text.length} characters`}`,
        );
    }
  };
  const load = Promise.all([loop(), loop()]);
  return {
    failures,
    served: () => served,
    stop: async () => {
      running = false;
      await load;
      await gw.close();
    },
  };
}

/** A rollout reports complete while old pods still finish their preStop sleep: wait until they are gone. */
async function oldPodsGone(): Promise<void> {
  await waitUntil(
    'the old pods of Open WebUI and LiteLLM gone',
    async () => {
      const pods = [
        ...(await listPods(kc, ns, 'app.kubernetes.io/name=open-webui')),
        ...(await listPods(kc, ns, 'app.kubernetes.io/name=litellm')),
      ];
      return pods.every((p) => !p.metadata?.deletionTimestamp) ? true : undefined;
    },
    { timeoutMs: 180_000 },
  );
}

/** On each Open WebUI replica, on its own: the models it lists and a streamed chat through it. */
async function everyReplicaServes(): Promise<void> {
  const forwards: Forward[] = await forwardEachPod('open-webui', 2);
  try {
    for (const f of forwards) {
      const { token } = await signIn(f.url, admin());
      expect(await modelIds(f.url, '/api/models', token), `models listed by ${f.url}`).toContain(model.name);
      const client = new OpenAI({ baseURL: `${f.url}/api`, apiKey: token, maxRetries: 0 });
      const chat = await streamChat(client, model.name, 'still there?');
      expect(chat.text).toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'still there?' }] }));
    }
  } finally {
    await closeAll(forwards);
  }
}

describe('settings as code', { timeout: 420_000 }, () => {
  it('the database holds the LiteLLM connection of the manifests and the Secret', async () => {
    expect(await storedConnection()).toEqual({ urls: [LITELLM_URL], keys: [masterKey()] });
  });

  it('an admin who changes the connection breaks chats on every replica, until the next rollout puts it back', async () => {
    const { token } = await signIn(stack.urls.openWebui, admin());
    const set = await api(stack.urls.openWebui, '/openai/config/update', token, {
      method: 'POST',
      body: JSON.stringify({
        ENABLE_OPENAI_API: true,
        OPENAI_API_BASE_URLS: [LITELLM_URL],
        OPENAI_API_KEYS: ['sk-not-the-master-key'],
        OPENAI_API_CONFIGS: {},
      }),
    });
    expect(set.status).toBe(200);
    // Control: the change is in effect (shared through the database): LiteLLM refuses the key.
    expect((await storedConnection()).keys).toEqual(['sk-not-the-master-key']);
    await expect
      .poll(async () => (await modelIds(stack.urls.openWebui, '/api/models', token)).includes(model.name), { timeout: 20_000 })
      .toBe(false);

    await restartDeployment(kc, ns, 'open-webui');
    await waitUntilRolledOut(kc, ns, { timeoutMs: 300_000 });
    expect(await storedConnection()).toEqual({ urls: [LITELLM_URL], keys: [masterKey()] });
    await everyReplicaServes();
  });

  it(
    'rotating the LiteLLM master key in three applies: zero failed chats through the Gateway, then only the new key',
    { timeout: 900_000 },
    async () => {
      const file = join(stack.secretsDir, 'litellm.env');
      /** Sets (or, with undefined, removes) keys of the env file, as a user edits it. */
      const edit = (changes: Record<string, string | undefined>) => {
        const lines = readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => !Object.keys(changes).some((k) => l.startsWith(`${k}=`)));
        for (const [k, v] of Object.entries(changes)) if (v !== undefined) lines.splice(lines.length - 1, 0, `${k}=${v}`);
        writeFileSync(file, lines.join('\n'), { mode: 0o600 });
      };
      const steps: string[] = [];
      const before = masterKey();
      const rotated = randomSecret('sk-');
      const traffic = await gatewayTraffic();
      const t0 = Date.now();
      try {
        edit({ LITELLM_EXTRA_MASTER_KEY: rotated });
        steps.push(await apply('1: LiteLLM also accepts the new key'));
        edit({ LITELLM_MASTER_KEY: rotated, LITELLM_EXTRA_MASTER_KEY: before });
        steps.push(await apply('2: the new key is the master key, the old one still accepted'));
        edit({ LITELLM_EXTRA_MASTER_KEY: undefined });
        steps.push(await apply('3: the old key dropped'));
      } finally {
        await traffic.stop();
      }
      console.log(
        `[rotation] LITELLM_MASTER_KEY in three applies, ${((Date.now() - t0) / 1000).toFixed(1)} s (${steps.join('; ')}): ${traffic.served()} chats served through the Gateway, ${traffic.failures.length} failed`,
      );
      expect(traffic.failures).toEqual([]);
      expect(traffic.served()).toBeGreaterThan(10);
      expect(masterKey()).toBe(rotated);
      expect(await storedConnection()).toEqual({ urls: [LITELLM_URL], keys: [rotated] });
      await everyReplicaServes();
      // The old key is refused by LiteLLM now (positive control: the new one is accepted).
      const litellm = (key: string) =>
        fetch(`${stack.urls.litellm}/v1/models`, { headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status);
      // (LiteLLM 1.108 without a database answers an unknown key 400, "No connected db.")
      expect(await litellm(rotated)).toBe(200);
      expect(await litellm(before)).toBe(400);
    },
  );

  it(
    'a model added to litellm-config.yaml is offered by every replica after the apply, with zero failed chats through the Gateway',
    { timeout: 600_000 },
    async () => {
      // The stack's copy of the manifests (the workspace's), as a team edits its own.
      const config = join(stack.dir, '../manifests/base/litellm-config.yaml');
      const text = readFileSync(config, 'utf8');
      expect(text).toContain('model_list:\n');
      const added = 'claude-team-default';
      writeFileSync(
        config,
        text.replace(
          'model_list:\n',
          `model_list:\n  - model_name: ${added}\n    litellm_params:\n      model: anthropic/${model.anthropicId}\n      api_key: os.environ/ANTHROPIC_API_KEY\n`,
        ),
      );
      const traffic = await gatewayTraffic();
      let step = '';
      try {
        step = await apply('the model added');
      } finally {
        await traffic.stop();
      }
      console.log(`[settings] ${step}: ${traffic.served()} chats served through the Gateway, ${traffic.failures.length} failed`);
      expect(traffic.failures).toEqual([]);
      expect(traffic.served()).toBeGreaterThan(5);
      const forwards: Forward[] = await forwardEachPod('open-webui', 2);
      try {
        for (const f of forwards) {
          const { token } = await signIn(f.url, admin());
          expect(await modelIds(f.url, '/api/models', token), `models listed by ${f.url}`).toContain(added);
          const client = new OpenAI({ baseURL: `${f.url}/api`, apiKey: token, maxRetries: 0 });
          const chat = await streamChat(client, added, 'the new name');
          expect(chat.text).toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'the new name' }] }));
        }
      } finally {
        await closeAll(forwards);
      }
    },
  );
});
