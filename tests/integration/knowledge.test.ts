// The single-replica overlays' vector store: embedded Chroma under DATA_DIR (VECTOR_DB=chroma,
// one writer, on the PVC). Upstream's full image opens it at start; so does the hermetic image
// (USE_SLIM_DOCKER=false), so these are the code paths users of either run. A slim build would
// never open Chroma: no store on the volume, and the knowledge calls below would fail.
import { describe, expect, it } from 'vitest';
import { adminToken, kc, stack } from '../support/live.ts';
import { api } from '../support/open-webui.ts';
import { documentInNewKnowledgeBase, knowledgeFileIds } from '../support/knowledge.ts';
import { execIn, podOf } from '../../lib/kube/pod.ts';

const webui = stack.urls.openWebui;

describe('knowledge on embedded Chroma', { timeout: 120_000 }, () => {
  it("adds, lists and removes a document, deletes the knowledge base; Chroma's store is on the data volume", async () => {
    const token = await adminToken();
    const { fileId, knowledgeId } = await documentInNewKnowledgeBase(webui, token, 'chroma', 'One writer, one embedded store.\n');
    expect(await knowledgeFileIds(webui, token, knowledgeId)).toContain(fileId);

    // Removing a file and deleting a base go through the vector client (delete, delete_collection).
    const removed = await api(webui, `/api/v1/knowledge/${knowledgeId}/file/remove`, token, {
      method: 'POST',
      body: JSON.stringify({ file_id: fileId }),
    });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(await knowledgeFileIds(webui, token, knowledgeId)).not.toContain(fileId);
    const deleted = await api(webui, `/api/v1/knowledge/${knowledgeId}/delete`, token, { method: 'DELETE' });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);

    const pod = (await podOf(kc, stack.namespace, 'open-webui')).metadata!.name!;
    const store = await execIn(kc, stack.namespace, pod, 'open-webui', [
      'sh',
      '-c',
      'echo "slim=$USE_SLIM_DOCKER vector_db=$VECTOR_DB"; stat -c "%s %u" /app/backend/data/vector_db/chroma.sqlite3',
    ]);
    expect(store.code, store.stderr).toBe(0);
    expect(store.stdout).toContain('slim=false vector_db=chroma');
    const [size, owner] = store.stdout.trim().split('\n').at(-1)!.split(' ').map(Number);
    expect(size).toBeGreaterThan(0);
    expect(owner).toBe(10000); // written by the app's own UID on the PVC
  });
});
