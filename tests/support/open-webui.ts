// Open WebUI's and LiteLLM's own APIs as a client meets them: sign-in, JSON calls with a token,
// the model list. Every function takes the base URL, so the same code serves a port-forward, a
// pod's own forward or a plain-Docker container.
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { configuredModels } from './models.ts';

export interface Credentials {
  email: string;
  password: string;
}

/** Signs in through Open WebUI's API (with `fetchFn`: through a gateway's TLS); returns the session token and the user's role. */
export async function signIn(baseUrl: string, creds: Credentials, fetchFn: typeof fetch = fetch): Promise<{ token: string; role: string }> {
  const res = await fetchFn(`${baseUrl}/api/v1/auths/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(creds),
  });
  if (res.status !== 200) throw new Error(`sign-in as ${creds.email}: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token?: string; role?: string };
  if (!body.token) throw new Error(`sign-in as ${creds.email} returned no token`);
  return { token: body.token, role: body.role ?? '' };
}

/** A JSON call with a bearer token; the body is parsed when it is JSON and kept as text otherwise. */
export async function api<T>(baseUrl: string, path: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: body as T };
}

/** The sorted model ids of an OpenAI-style model list (LiteLLM's /v1/models, Open WebUI's /api/models). */
export async function modelIds(baseUrl: string, path: string, token: string): Promise<string[]> {
  const res = await api<{ data?: { id: string }[] }>(baseUrl, path, token);
  if (res.status !== 200 || !Array.isArray(res.body.data))
    throw new Error(`GET ${path}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body.data.map((m) => m.id).sort();
}

/** What a streamed chat gave the client: the text received, and the error that ended it, if any. */
export interface StreamedChat {
  text: string;
  error?: { status?: number; message: string };
}

/**
 * Streams a one-message chat through an OpenAI-compatible client (LiteLLM's /v1, Open WebUI's
 * /api); `extra` goes into the request body (e.g. LiteLLM's per-request `stream_timeout`).
 * Never throws for the call itself: a failure, before or during the stream, is returned.
 */
export async function streamChat(
  client: OpenAI,
  model: string,
  prompt: string,
  extra: Record<string, unknown> = {},
): Promise<StreamedChat> {
  let text = '';
  try {
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], stream: true, ...extra });
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return { text };
  } catch (e) {
    const err = e as { status?: number; message?: string };
    return { text, error: { status: err.status, message: String(err.message) } };
  }
}

/**
 * Signs in at `baseUrl` (through `fetchFn`: a gateway's TLS, say) and streams `prompt` to the
 * first configured model through Open WebUI's API. Returns what came back and what the fake
 * upstream answers to that prompt, for the test to compare.
 */
export async function chatThroughOpenWebui(
  baseUrl: string,
  creds: Credentials,
  prompt: string,
  fetchFn: typeof fetch = fetch,
): Promise<{ got: StreamedChat; want: StreamedChat }> {
  const { token } = await signIn(baseUrl, creds, fetchFn);
  const model = configuredModels()[0]!;
  const client = new OpenAI({ baseURL: `${baseUrl}/api`, apiKey: token, maxRetries: 0, fetch: fetchFn });
  return {
    got: await streamChat(client, model.name, prompt),
    want: { text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: prompt }] }) },
  };
}

/** What a user keeps in Open WebUI, made through its API: a saved chat of one question and answer, and an uploaded text file. */
export async function saveChatAndFile(
  baseUrl: string,
  token: string,
  opts: { title: string; model: string; fileName: string; fileText: string },
): Promise<{ chatId: string; fileId: string }> {
  const chat = await api<{ id?: string }>(baseUrl, '/api/v1/chats/new', token, {
    method: 'POST',
    body: JSON.stringify({
      chat: {
        title: opts.title,
        models: [opts.model],
        messages: [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
        ],
      },
    }),
  });
  if (chat.status !== 200 || !chat.body.id) throw new Error(`save chat ${opts.title}: HTTP ${chat.status} ${JSON.stringify(chat.body)}`);
  const form = new FormData();
  form.append('file', new Blob([opts.fileText], { type: 'text/plain' }), opts.fileName);
  const uploaded = await fetch(`${baseUrl}/api/v1/files/?process=true&process_in_background=false`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const file = (await uploaded.json()) as { id?: string };
  if (uploaded.status !== 200 || !file.id) throw new Error(`upload ${opts.fileName}: HTTP ${uploaded.status} ${JSON.stringify(file)}`);
  return { chatId: chat.body.id, fileId: file.id };
}

/** What saveChatAndFile made, read back as the user sees it: their chat list, the chat's messages, the file's content. */
export async function readChatAndFile(
  baseUrl: string,
  token: string,
  made: { chatId: string; fileId: string },
): Promise<{ chats: [string, string][]; messages: { role: string; content: string }[]; file: { status: number; text: string } }> {
  const chats = await api<{ id: string; title: string }[]>(baseUrl, '/api/v1/chats/', token);
  const chat = await api<{ chat?: { messages?: { role: string; content: string }[] } }>(baseUrl, `/api/v1/chats/${made.chatId}`, token);
  const file = await fetch(`${baseUrl}/api/v1/files/${made.fileId}/content`, { headers: { authorization: `Bearer ${token}` } });
  return {
    chats: Array.isArray(chats.body) ? chats.body.map((c) => [c.id, c.title] as [string, string]) : [],
    messages: chat.body.chat?.messages ?? [],
    file: { status: file.status, text: await file.text() },
  };
}
