// The vector store the production overlay pins (pgvector on the production Postgres, not the
// embedded Chroma two replicas cannot share) in use: a document uploaded and added to a
// knowledge base through one replica is there through the other, and pgvector's table exists in
// Postgres. (Embeddings are bypassed in every overlay, so no vectors are computed.)
import { describe, expect, it } from 'vitest';
import { admin } from '../support/live.ts';
import { sql } from '../support/postgres.ts';
import { documentInNewKnowledgeBase, knowledgeFileIds, signIn } from '../support/open-webui.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';

describe('knowledge on pgvector with two replicas', { timeout: 120_000 }, () => {
  it('adds a document to a knowledge base through A and lists it through B', async () => {
    const forwards = await forwardEachPod('open-webui', 2);
    try {
      const [a, b] = forwards.map((f) => f.url) as [string, string];
      const { token } = await signIn(a, admin());
      const { fileId, knowledgeId } = await documentInNewKnowledgeBase(a, token, 'replicas', 'Replicas share one vector store.\n');
      expect(await knowledgeFileIds(b, token, knowledgeId)).toContain(fileId);
      // pgvector's client created its table in Postgres (embedded Chroma would write under DATA_DIR).
      expect(await sql("SELECT to_regclass('public.document_chunk') IS NOT NULL")).toBe('t');
    } finally {
      await closeAll(forwards);
    }
  });
});
