// The vector store the production overlay pins (pgvector on the production Postgres, not the
// embedded Chroma two replicas cannot share) in use: a document uploaded and added to a
// knowledge base through one replica is there through the other, and pgvector's table exists in
// Postgres. (Embeddings are bypassed in every overlay, so no vectors are computed.)
import { describe, expect, it } from 'vitest';
import { admin } from '../support/live.ts';
import { sql } from '../support/postgres.ts';
import { api, signIn } from '../support/open-webui.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';



describe('knowledge on pgvector with two replicas', { timeout: 120_000 }, () => {
  it('adds a document to a knowledge base through A and lists it through B', async () => {
    const forwards = await forwardEachPod('open-webui', 2);
    try {
      const [a, b] = forwards.map((f) => f.url) as [string, string];
      const { token } = await signIn(a, admin());
      const form = new FormData();
      form.append('file', new Blob(['Replicas share one vector store.\n'], { type: 'text/plain' }), 'replicas.txt');
      const uploaded = await fetch(`${a}/api/v1/files/?process=true&process_in_background=false`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
      const file = (await uploaded.json()) as { id: string };
      expect(uploaded.status, JSON.stringify(file)).toBe(200);

      const kb = await api<{ id: string }>(a, '/api/v1/knowledge/create', token, { method: 'POST', body: JSON.stringify({ name: `kb ${Date.now()}`, description: 'two replicas' }) });
      expect(kb.status, JSON.stringify(kb.body)).toBe(200);
      const added = await api<{ files?: { id: string }[] }>(a, `/api/v1/knowledge/${kb.body.id}/file/add`, token, { method: 'POST', body: JSON.stringify({ file_id: file.id }) });
      expect(added.status, JSON.stringify(added.body)).toBe(200);

      const listed = await api<{ items?: { id: string }[] } | { id: string }[]>(b, `/api/v1/knowledge/${kb.body.id}/files`, token);
      expect(listed.status, JSON.stringify(listed.body)).toBe(200);
      const ids = (Array.isArray(listed.body) ? listed.body : (listed.body.items ?? [])).map((f) => f.id);
      expect(ids).toContain(file.id);
      // pgvector's client created its table in Postgres (embedded Chroma would write under DATA_DIR).
      expect(await sql("SELECT to_regclass('public.document_chunk') IS NOT NULL")).toBe('t');
    } finally {
      await closeAll(forwards);
    }
  });
});
