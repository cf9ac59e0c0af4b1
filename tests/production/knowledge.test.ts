// Knowledge bases on the production overlay: two replicas, vectors in pgvector on the production
// Postgres (not the embedded Chroma two replicas cannot share). Documents added through replica A
// are embedded (voyage-4 through LiteLLM, against the fake's Voyage API) into Postgres, sized to
// the model's dimension, and a question asked through replica B gets the right passage.
import { describe, expect, it } from 'vitest';
import { adminToken } from '../support/live.ts';
import { sql } from '../support/postgres.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';
import { PASSAGES, QUESTIONS, topicDocument } from '../support/documents.ts';
import { askWithKnowledge, knowledgeFileIds, setRetrievalQueryGeneration, topicKnowledgeBase } from '../support/knowledge.ts';
import { configuredModels } from '../../lib/models.ts';

/** voyage-4's dimension (the model map of the pinned LiteLLM; the static tier ties it to the table's size). */
const DIMENSION = 1024;

describe('knowledge on pgvector with two replicas', { timeout: 180_000 }, () => {
  it("embeds documents added through A into Postgres at the model's dimension, and B retrieves the right passage", async () => {
    const forwards = await forwardEachPod('open-webui', 2);
    try {
      const [a, b] = forwards.map((f) => f.url) as [string, string];
      const token = await adminToken(a);
      const knowledgeId = await topicKnowledgeBase(a, token, 'replicas');
      expect((await knowledgeFileIds(b, token, knowledgeId)).length).toBe(3);

      // The vectors are pgvector's, in Postgres: a column of the model's size, a row per chunk.
      expect(
        await sql(
          "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'document_chunk'::regclass AND attname = 'vector'",
        ),
      ).toBe(`vector(${DIMENSION})`);
      const rows = (
        await sql(`SELECT vector_dims(vector), count(*) FROM document_chunk WHERE collection_name = '${knowledgeId}' GROUP BY 1`)
      ).split('|');
      expect(Number(rows[0])).toBe(DIMENSION);
      expect(Number(rows[1])).toBeGreaterThanOrEqual(3 * topicDocument('glacier').paragraphs.length);

      // Asked through B (the question itself as the query: the fake writes no search queries).
      const before = await setRetrievalQueryGeneration(b, token, false);
      try {
        await resetUpstream();
        const chat = configuredModels().find((m) => m.name.includes('sonnet'))!;
        const answer = await askWithKnowledge(b, token, chat.name, QUESTIONS.glacier, knowledgeId);
        expect(answer.status, answer.text).toBe(200);
        expect(new Set(answer.sources)).toEqual(new Set(['glacier.txt']));
        const [request] = (await upstreamRequests()).filter((r) => r.path.startsWith('/v1/messages'));
        const prompt = JSON.stringify(request!.body);
        expect(prompt).toContain(PASSAGES.glacier);
        expect(prompt).not.toContain(PASSAGES.lighthouse);
        expect(prompt).not.toContain(PASSAGES.sourdough);
      } finally {
        await setRetrievalQueryGeneration(b, token, before);
      }
    } finally {
      await closeAll(forwards);
    }
  });
});
