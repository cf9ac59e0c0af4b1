// Knowledge bases that retrieve: documents are cut into chunks, embedded by LiteLLM's voyage-4
// (LiteLLM's own Voyage translation, against the fake's Voyage API), stored in the overlay's
// vector store (embedded Chroma here), and a question gets the nearest chunks in its prompt.
// What reaches "Anthropic" is read from the fake upstream's request log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, kc, stack } from '../support/live.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { scaleDeployment, waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { api } from '../support/open-webui.ts';
import { resetUpstream, setFaults, upstreamRequests } from '../support/fake-upstream.ts';
import { configuredModels, embeddingModels } from '../../lib/models.ts';
import { PASSAGES, QUESTIONS, TOPIC_NAMES, longDocument, topicDocument, type Topic } from '../support/documents.ts';
import {
  addToKnowledge,
  askWithKnowledge,
  fileState,
  newKnowledgeBase,
  setRetrievalQueryGeneration,
  topicKnowledgeBase,
  uploadDocument,
} from '../support/knowledge.ts';
import type { FaultRule } from '../../fake-anthropic/src/faults.ts';
import type { RecordedRequest } from '../../fake-anthropic/src/server.ts';

const webui = stack.urls.openWebui;
const CHAT = configuredModels().find((m) => m.name.includes('sonnet'))!;
const EMBEDDING = embeddingModels()[0]!;
let token: string;
let knowledgeId: string;
let queryGenerationBefore: boolean;

/** The text of every message of a Messages request (string content or text blocks). */
function promptText(r: RecordedRequest): string {
  const body = r.body as { system?: unknown; messages?: { content: unknown }[] };
  const parts = (c: unknown): string[] =>
    typeof c === 'string'
      ? [c]
      : Array.isArray(c)
        ? c.flatMap((b) => (typeof b === 'object' && b && 'text' in b ? [String(b.text)] : []))
        : [];
  return [...parts(body.system), ...(body.messages ?? []).flatMap((m) => parts(m.content))].join('\n');
}

const messagesRequests = async () => (await upstreamRequests()).filter((r) => r.method === 'POST' && r.path.startsWith('/v1/messages'));
const embeddingRequests = async () => (await upstreamRequests()).filter((r) => r.method === 'POST' && r.path.startsWith('/v1/embeddings'));
const inputs = (r: RecordedRequest) => (r.body as { input: string[] }).input;

/** Every sentence of a document, to tell whether any of it reached a prompt. */
const sentences = (text: string) => text.split(/(?<=\.)\s+/).filter((s) => s.length > 40);

describe('knowledge bases that retrieve (embedded Chroma, voyage-4 through LiteLLM)', { timeout: 240_000 }, () => {
  beforeAll(async () => {
    token = await adminToken();
    queryGenerationBefore = await setRetrievalQueryGeneration(webui, token, true);
    await setFaults([]);
    await resetUpstream();
    knowledgeId = await topicKnowledgeBase(webui, token, 'three topics');
  });
  afterAll(async () => {
    await setFaults([]);
    if (token) await setRetrievalQueryGeneration(webui, token, queryGenerationBefore);
  });

  it("embeds every chunk through LiteLLM's Voyage provider, in batches, with Voyage's key and model", async () => {
    const embedded = await embeddingRequests();
    expect(embedded.length).toBeGreaterThan(0);
    for (const r of embedded) {
      expect({ status: r.status, model: (r.body as { model: string }).model }).toEqual({ status: 200, model: EMBEDDING.voyageId });
    }
    // Each document is embedded twice (its own collection, then the knowledge base's), all its
    // chunks in one request (RAG_EMBEDDING_BATCH_SIZE), so whole paragraphs went in batches.
    const texts = embedded.flatMap(inputs);
    for (const topic of TOPIC_NAMES) expect(texts.filter((t) => t.includes(PASSAGES[topic])).length, topic).toBeGreaterThanOrEqual(2);
    expect(Math.max(...embedded.map((r) => inputs(r).length))).toBeGreaterThanOrEqual(5);
  });

  it.each(TOPIC_NAMES)(
    'a question about the %s document gets its passage in the prompt, nothing of the other two, and the answer streams',
    async (topic: Topic) => {
      // The fake cannot write search queries (Open WebUI's task-model step would search for its echo),
      // so this asks with the question itself as the query; the next test runs the default path.
      await setRetrievalQueryGeneration(webui, token, false);
      try {
        await resetUpstream();
        const answer = await askWithKnowledge(webui, token, CHAT.name, QUESTIONS[topic], knowledgeId);
        expect(answer.status, answer.text).toBe(200);
        expect(answer.text).toMatch(/Echo:/);
        expect(new Set(answer.sources)).toEqual(new Set([`${topic}.txt`]));
        const chats = await messagesRequests();
        expect(chats).toHaveLength(1);
        const prompt = promptText(chats[0]!);
        expect(prompt).toContain(QUESTIONS[topic]);
        expect(prompt).toContain(PASSAGES[topic]);
        for (const other of TOPIC_NAMES.filter((t) => t !== topic))
          for (const s of sentences(topicDocument(other).text)) expect(prompt, `${other} leaked into a ${topic} prompt`).not.toContain(s);
        // The question itself was embedded through LiteLLM to search with.
        expect((await embeddingRequests()).flatMap(inputs)).toContain(QUESTIONS[topic]);
      } finally {
        await setRetrievalQueryGeneration(webui, token, true);
      }
    },
  );

  it("with Open WebUI's default query generation, the task model writes the search first and the answer streams with sources", async () => {
    await resetUpstream();
    const answer = await askWithKnowledge(webui, token, CHAT.name, QUESTIONS.lighthouse, knowledgeId);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toMatch(/Echo:/);
    expect(answer.sources.length).toBeGreaterThan(0);
    const chats = await messagesRequests();
    const task = configuredModels().find((m) => m.name.includes('haiku'))!;
    expect(chats.map((r) => (r.body as { model: string }).model)).toEqual([task.anthropicId, CHAT.anthropicId]);
    expect(promptText(chats[0]!)).toContain('"queries"');
    expect(promptText(chats[1]!)).toContain('<source');
  });

  /** The prompt a question with `kb` attached sends upstream, asked with the question as its query. */
  async function promptFor(kb: string, question: string, context?: 'full') {
    await resetUpstream();
    await setRetrievalQueryGeneration(webui, token, false);
    try {
      const answer = await askWithKnowledge(webui, token, CHAT.name, question, kb, context);
      expect(answer.status, answer.text).toBe(200);
    } finally {
      await setRetrievalQueryGeneration(webui, token, true);
    }
    const [chat] = await messagesRequests();
    const prompt = promptText(chat!);
    // (the fake counts input tokens as words)
    return { prompt, words: prompt.split(/\s+/).length };
  }

  it('sends a small part of the knowledge base, where full-context mode sends all of it', async () => {
    const retrieved = await promptFor(knowledgeId, QUESTIONS.glacier);
    const full = await promptFor(knowledgeId, QUESTIONS.glacier, 'full');
    for (const topic of TOPIC_NAMES) expect(full.prompt).toContain(PASSAGES[topic]);
    console.log(`[figures] prompt words per question on 3 documents: retrieval ${retrieved.words}, full context ${full.words}`);
    expect(retrieved.words).toBeLessThan(full.words);
  });

  /** Voyage failing, and recovering: a fault at the fake's Voyage API, or the fake gone altogether. */
  const fault = (kind: FaultRule['kind']) => ({
    // More failures than LiteLLM's retries (RateLimitErrorRetries 2, InternalServerErrorRetries 1).
    fail: () => setFaults([{ kind, model: EMBEDDING.voyageId, times: 50 } as FaultRule]),
    recover: () => setFaults([]),
  });
  const unreachable = {
    fail: async () => {
      await scaleDeployment(kc, stack.namespace, 'fake-anthropic', 0);
      await expect
        .poll(async () => (await listPods(kc, stack.namespace, 'app.kubernetes.io/name=fake-anthropic')).length, {
          timeout: 90_000,
          interval: 500,
        })
        .toBe(0);
    },
    recover: async () => {
      await scaleDeployment(kc, stack.namespace, 'fake-anthropic', 1);
      await waitUntilRolledOut(kc, stack.namespace, { timeoutMs: 120_000 });
    },
  };
  describe.each([
    { failure: '429 rate limit', shows: /^429, message='Too Many Requests'/, ...fault('rate_limit') },
    { failure: '500 error', shows: /^500, message='Internal Server Error'/, ...fault('api_error') },
    { failure: 'connection cut', shows: /^500, message='Internal Server Error'/, ...fault('cut') },
    { failure: 'unreachable (no pod behind its address)', shows: /^500, message='Internal Server Error'/, ...unreachable },
  ])('Voyage failing: $failure', ({ failure, shows, fail, recover }) => {
    it('fails the upload with the provider error, indexes nothing, and a retry once it recovers succeeds', async () => {
      const tag = failure.split(' ')[0]!;
      const doc = { name: `failing-${tag}.txt`, text: longDocument('lighthouse', 1).text.replace(/Skerryvore/g, `Skerryvore ${tag}`) };
      await fail();
      let recovered = false;
      try {
        const file = await uploadDocument(webui, token, doc.name, doc.text);
        expect(file.status).toBe('failed');
        console.log(`[retrieval] Voyage ${failure}: the upload shows "${file.error}"`);
        expect(file.error).toMatch(shows);
        expect(file.error).toMatch(/\/v1\/embeddings/);
        // Adding it to a knowledge base fails the same way, and leaves the base without it.
        const kb = await newKnowledgeBase(webui, token, `failing ${tag}`);
        const refused = await addToKnowledge(webui, token, kb, file.id);
        expect(refused.status).toBe(400);
        expect(String(refused.body.detail)).toMatch(shows.source.replace('^', ''));
        await recover();
        recovered = true;
        const listed = await api<{ items?: { id: string }[] }>(webui, `/api/v1/knowledge/${kb}/files`, token);
        expect((listed.body.items ?? []).map((f) => f.id)).not.toContain(file.id);
        // Nothing half-indexed: the file's own collection holds no chunk.
        const query = await api<{ documents?: string[][] } | null>(webui, '/api/v1/retrieval/query/doc', token, {
          method: 'POST',
          body: JSON.stringify({ collection_name: `file-${file.id}`, query: 'lamp wicks', k: 3 }),
        });
        expect(query.status === 200 ? (query.body?.documents?.[0] ?? []) : []).toEqual([]);
        // The provider is back: adding it again embeds it, and the file is completed.
        const added = await addToKnowledge(webui, token, kb, file.id);
        expect(added.status, JSON.stringify(added.body)).toBe(200);
        expect((await fileState(webui, token, file.id)).status).toBe('completed');
      } finally {
        if (!recovered) await recover();
      }
    });
  });

  it('indexes a 50-page document (figure: the time from upload to searchable in a knowledge base)', async () => {
    const doc = longDocument('glacier', 50);
    await resetUpstream();
    const t0 = performance.now();
    const file = await uploadDocument(webui, token, 'fifty-pages.txt', doc.text);
    const uploaded = performance.now();
    const kb = await newKnowledgeBase(webui, token, 'fifty pages');
    const added = await addToKnowledge(webui, token, kb, file.id);
    const done = performance.now();
    expect(file.status).toBe('completed');
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const requests = await embeddingRequests();
    const chunks = requests.flatMap(inputs).length;
    // every paragraph embedded, twice (the file's collection and the base's)
    expect(chunks).toBeGreaterThanOrEqual(2 * doc.paragraphs.length);
    console.log(
      `[figures] 50-page document (${doc.text.length} characters): upload and index ${((uploaded - t0) / 1000).toFixed(1)} s, ` +
        `add to a knowledge base ${((done - uploaded) / 1000).toFixed(1)} s; ${chunks} chunks embedded in ${requests.length} requests`,
    );
    const retrieved = await promptFor(kb, QUESTIONS.glacier);
    const full = await promptFor(kb, QUESTIONS.glacier, 'full');
    // (Which 5 of its 232 look-alike paragraphs come back is the vector index's approximate search;
    // the exact-passage checks are the three-document tests above.)
    expect(retrieved.prompt).toMatch(/The surveyor of the Vatna glacier/);
    console.log(`[figures] prompt words per question on the 50-page document: retrieval ${retrieved.words}, full context ${full.words}`);
    expect(retrieved.words * 10).toBeLessThan(full.words);
  });

  it('re-indexes every knowledge base (what follows a change of embedding model), and retrieval still finds the passage', async () => {
    await resetUpstream();
    const res = await api(webui, '/api/v1/knowledge/reindex', token, { method: 'POST' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const texts = (await embeddingRequests()).flatMap(inputs);
    for (const topic of TOPIC_NAMES)
      expect(
        texts.some((t) => t.includes(PASSAGES[topic])),
        topic,
      ).toBe(true);
    await setRetrievalQueryGeneration(webui, token, false);
    try {
      await resetUpstream();
      const answer = await askWithKnowledge(webui, token, CHAT.name, QUESTIONS.sourdough, knowledgeId);
      expect(answer.status).toBe(200);
      expect(promptText((await messagesRequests())[0]!)).toContain(PASSAGES.sourdough);
    } finally {
      await setRetrievalQueryGeneration(webui, token, true);
    }
  });
});
