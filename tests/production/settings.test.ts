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
import { randomSecret } from '../../lib/secrets.ts';
import { restartDeployment, waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { type Forward } from '../../lib/kube/port-forward.ts';
import { admin, adminToken, kc, masterKey, stack } from '../support/live.ts';
import { api, modelIds, signIn, streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { sql } from '../support/postgres.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';
import { applyStack, editEnvFile, everyReplicaServes, underTraffic } from '../support/rollouts.ts';
import { uploadDocument } from '../support/knowledge.ts';
import { topicDocument } from '../support/documents.ts';

const ns = stack.namespace;
const LITELLM_URL = 'http://litellm:4000/v1';
const model = configuredModels()[0]!;

/** The LiteLLM connections Open WebUI's database holds, for chats and for embeddings (what every replica sends). */
async function storedConnection(): Promise<{ urls: string[]; keys: string[]; embeddings: { url: string; key: string } }> {
  const rows = await sql(
    "select key, value::text from config where key in ('openai.api_base_urls', 'openai.api_keys', 'rag.openai.api_base_url', 'rag.openai.api_key') order by key",
  );
  const byKey = Object.fromEntries(
    rows.split('\n').map((l) => [l.slice(0, l.indexOf('|')), JSON.parse(l.slice(l.indexOf('|') + 1)) as unknown]),
  );
  return {
    urls: (byKey['openai.api_base_urls'] as string[] | undefined) ?? [],
    keys: (byKey['openai.api_keys'] as string[] | undefined) ?? [],
    embeddings: { url: String(byKey['rag.openai.api_base_url']), key: String(byKey['rag.openai.api_key']) },
  };
}
const expected = (key: string) => ({ urls: [LITELLM_URL], keys: [key], embeddings: { url: LITELLM_URL, key } });

describe('settings as code', { timeout: 420_000 }, () => {
  it('the database holds the LiteLLM connections (chats, embeddings) of the manifests and the Secret', async () => {
    expect(await storedConnection()).toEqual(expected(masterKey()));
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
    expect(await storedConnection()).toEqual(expected(masterKey()));
    await everyReplicaServes();
  });

  it(
    'rotating the LiteLLM master key in three applies: zero failed chats through the Gateway, then only the new key',
    { timeout: 900_000 },
    async () => {
      const file = join(stack.secretsDir, 'litellm.env');
      const before = masterKey();
      const rotated = randomSecret('sk-');
      const traffic = await underTraffic('LITELLM_MASTER_KEY in three applies', async () => {
        editEnvFile(file, { LITELLM_EXTRA_MASTER_KEY: rotated });
        const steps = [await applyStack('1: LiteLLM also accepts the new key')];
        editEnvFile(file, { LITELLM_MASTER_KEY: rotated, LITELLM_EXTRA_MASTER_KEY: before });
        steps.push(await applyStack('2: the new key is the master key, the old one still accepted'));
        editEnvFile(file, { LITELLM_EXTRA_MASTER_KEY: undefined });
        steps.push(await applyStack('3: the old key dropped'));
        return steps;
      });
      expect(traffic.failures).toEqual([]);
      expect(traffic.served()).toBeGreaterThan(10);
      expect(masterKey()).toBe(rotated);
      expect(await storedConnection()).toEqual(expected(rotated));
      await everyReplicaServes();
      // Documents are embedded through LiteLLM with the new key too, on every replica.
      const forwards = await forwardEachPod('open-webui', 2);
      try {
        for (const f of forwards) {
          const token = await adminToken(f.url);
          const file = await uploadDocument(f.url, token, 'after-rotation.txt', topicDocument('sourdough').text);
          expect(file, `a document embedded through ${f.url}`).toEqual({ id: file.id, status: 'completed' });
        }
      } finally {
        await closeAll(forwards);
      }
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
      const traffic = await underTraffic('a model added to litellm-config.yaml', async () => [await applyStack('the model added')]);
      expect(traffic.failures).toEqual([]);
      expect(traffic.served()).toBeGreaterThan(5);
      const forwards: Forward[] = await forwardEachPod('open-webui', 2);
      try {
        for (const f of forwards) {
          const token = await adminToken(f.url);
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
