// Open WebUI's knowledge bases through its API, as its web app drives them: upload a file (its
// text extracted and embedded), a knowledge base, the file added to it (embedded again, into the
// base's collection), and a question asked with the base attached.
import { api } from './open-webui.ts';
import { TOPIC_NAMES, topicDocument } from './documents.ts';

export interface UploadedFile {
  id: string;
  /** Open WebUI's processing state: completed, or failed with `error`. */
  status: string;
  error?: string;
}

/** Uploads a text file and processes it before answering (what the web app waits for). */
export async function uploadDocument(baseUrl: string, token: string, name: string, text: string): Promise<UploadedFile> {
  const form = new FormData();
  form.append('file', new Blob([text], { type: 'text/plain' }), name);
  const res = await fetch(`${baseUrl}/api/v1/files/?process=true&process_in_background=false`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 200 || !body.id) throw new Error(`upload ${name}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return fileState(baseUrl, token, body.id);
}

/** A file's processing state (the upload's answer carries the state from before processing). */
export async function fileState(baseUrl: string, token: string, id: string): Promise<UploadedFile> {
  const res = await api<{ data?: { status?: string; error?: string } }>(baseUrl, `/api/v1/files/${id}`, token);
  if (res.status !== 200) throw new Error(`GET file ${id}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { id, status: res.body.data?.status ?? '', ...(res.body.data?.error ? { error: res.body.data.error } : {}) };
}

export async function newKnowledgeBase(baseUrl: string, token: string, name: string): Promise<string> {
  const kb = await api<{ id?: string }>(baseUrl, '/api/v1/knowledge/create', token, {
    method: 'POST',
    body: JSON.stringify({ name: `${name} ${Date.now()}`, description: name }),
  });
  if (kb.status !== 200 || !kb.body.id) throw new Error(`create knowledge base ${name}: HTTP ${kb.status} ${JSON.stringify(kb.body)}`);
  return kb.body.id;
}

/** Adds a file to a knowledge base; the answer as it comes (a failed embedding is HTTP 400 with a detail). */
export function addToKnowledge(baseUrl: string, token: string, knowledgeId: string, fileId: string) {
  return api<{ detail?: string; files?: { id: string }[] }>(baseUrl, `/api/v1/knowledge/${knowledgeId}/file/add`, token, {
    method: 'POST',
    body: JSON.stringify({ file_id: fileId }),
  });
}

/** Uploads a text document and adds it to a new knowledge base; returns both ids. */
export async function documentInNewKnowledgeBase(
  baseUrl: string,
  token: string,
  name: string,
  text: string,
): Promise<{ fileId: string; knowledgeId: string }> {
  const file = await uploadDocument(baseUrl, token, `${name}.txt`, text);
  const knowledgeId = await newKnowledgeBase(baseUrl, token, name);
  const added = await addToKnowledge(baseUrl, token, knowledgeId, file.id);
  if (added.status !== 200) throw new Error(`add ${name} to its knowledge base: HTTP ${added.status} ${JSON.stringify(added.body)}`);
  return { fileId: file.id, knowledgeId };
}

/** A new knowledge base of the three topic documents (documents.ts), each processed and added. */
export async function topicKnowledgeBase(baseUrl: string, token: string, name: string): Promise<string> {
  const knowledgeId = await newKnowledgeBase(baseUrl, token, name);
  for (const topic of TOPIC_NAMES) {
    const doc = topicDocument(topic);
    const file = await uploadDocument(baseUrl, token, doc.name, doc.text);
    if (file.status !== 'completed') throw new Error(`${doc.name}: processing ${file.status}: ${file.error ?? ''}`);
    const added = await addToKnowledge(baseUrl, token, knowledgeId, file.id);
    if (added.status !== 200) throw new Error(`add ${doc.name}: HTTP ${added.status} ${JSON.stringify(added.body)}`);
  }
  return knowledgeId;
}

/** The ids of the files a knowledge base lists. */
export async function knowledgeFileIds(baseUrl: string, token: string, knowledgeId: string): Promise<string[]> {
  const listed = await api<{ items?: { id: string }[] } | { id: string }[]>(baseUrl, `/api/v1/knowledge/${knowledgeId}/files`, token);
  if (listed.status !== 200) throw new Error(`list knowledge base ${knowledgeId}: HTTP ${listed.status} ${JSON.stringify(listed.body)}`);
  return (Array.isArray(listed.body) ? listed.body : (listed.body.items ?? [])).map((f) => f.id);
}

export interface KnowledgeAnswer {
  status: number;
  /** The answer's text, from the stream's content deltas. */
  text: string;
  /** The file names of the passages Open WebUI says it put into the prompt (its first, non-OpenAI event). */
  sources: string[];
}

/**
 * Asks `question` with knowledge base `knowledgeId` attached, streamed, as the web app does
 * (`files` of type collection). `context: 'full'` asks for whole documents instead of retrieval.
 */
export async function askWithKnowledge(
  baseUrl: string,
  token: string,
  model: string,
  question: string,
  knowledgeId: string,
  context?: 'full',
): Promise<KnowledgeAnswer> {
  const res = await fetch(`${baseUrl}/api/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      stream: true,
      messages: [{ role: 'user', content: question }],
      files: [{ type: 'collection', id: knowledgeId, ...(context ? { context } : {}) }],
    }),
  });
  const raw = await res.text();
  let text = '';
  const sources: string[] = [];
  for (const line of raw.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const event = JSON.parse(line.slice(6)) as {
      sources?: { metadata?: { name?: string; source?: string }[] }[];
      choices?: { delta?: { content?: string } }[];
    };
    for (const s of event.sources ?? []) for (const m of s.metadata ?? []) sources.push(m.name ?? m.source ?? '');
    text += event.choices?.[0]?.delta?.content ?? '';
  }
  if (res.status !== 200) text = raw;
  return { status: res.status, text, sources };
}

/**
 * Switches Open WebUI's retrieval query generation (a task-model call that turns the chat into
 * search queries before retrieval) on or off, as the admin panel does; returns the value before.
 */
export async function setRetrievalQueryGeneration(baseUrl: string, token: string, on: boolean): Promise<boolean> {
  const current = await api<Record<string, unknown>>(baseUrl, '/api/v1/tasks/config', token);
  if (current.status !== 200) throw new Error(`GET tasks config: HTTP ${current.status}`);
  const before = current.body['ENABLE_RETRIEVAL_QUERY_GENERATION'] === true;
  const updated = await api(baseUrl, '/api/v1/tasks/config/update', token, {
    method: 'POST',
    body: JSON.stringify({ ...current.body, ENABLE_RETRIEVAL_QUERY_GENERATION: on }),
  });
  if (updated.status !== 200) throw new Error(`update tasks config: HTTP ${updated.status} ${JSON.stringify(updated.body)}`);
  return before;
}
