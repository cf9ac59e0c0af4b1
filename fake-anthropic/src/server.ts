/**
 * A fake Anthropic Messages API upstream: the project's one allowed stand-in for the real
 * Anthropic API. LiteLLM's `anthropic/` provider is pointed at it (`api_base:
 * http://fake-anthropic:8080`) so that LiteLLM's own request/response translation is exercised
 * against Anthropic's real wire protocol (https://docs.anthropic.com/en/api/messages,
 * .../messages-streaming, .../errors).
 *
 * Zero runtime dependencies (node:* only) so the image is just a Node binary and these files.
 *
 * Endpoints
 *   POST   /v1/messages               Messages API, JSON or SSE (`"stream": true`)
 *   POST   /v1/messages/count_tokens  {input_tokens}
 *   GET    /v1/models                 model list (the configured allow-list, else DEFAULT_MODEL_IDS)
 *   GET    /health                    {"status":"ok"} (no auth)
 *   GET    /_fake/requests            recorded /v1/* requests, oldest first (no auth)
 *   DELETE /_fake/requests            forget them
 *
 * The reply is deterministic; see `planReply` / `expectedReply` below for the rule.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// ---------------------------------------------------------------------------------------------
// The deterministic reply (pure; importable without starting a server)
// ---------------------------------------------------------------------------------------------

/** At most this many words of the user's text are echoed back. */
export const MAX_ECHO_WORDS = 64;

/** Used when the last user message carries no text (e.g. only an image or a tool_result). */
export const NO_TEXT_PLACEHOLDER = '(no text)';

/** Listed by GET /v1/models when no allow-list is configured (any model is then accepted). */
export const DEFAULT_MODEL_IDS: readonly string[] = [
  'claude-sonnet-4-5-20250929',
  'claude-haiku-4-5-20251001',
  'claude-opus-4-1-20250805',
];

/** The `anthropic-version` header values the real API accepts. */
export const ANTHROPIC_VERSIONS: readonly string[] = ['2023-06-01', '2023-01-01'];

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence';

export interface ReplyPlan {
  /** The assistant text actually returned (after stop_sequences and max_tokens are applied). */
  text: string;
  /** `text` split into the pieces streamed one `text_delta` each; `tokens.join('') === text`. */
  tokens: string[];
  stopReason: StopReason;
  stopSequence: string | null;
  inputTokens: number;
  /** `tokens.length`. */
  outputTokens: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Split text into "tokens": each word together with the whitespace that follows it (a leading
 * run of whitespace is its own token). `tokenize(t).join('') === t` always holds.
 */
export function tokenize(text: string): string[] {
  return text.match(/\s+|\S+\s*/gy) ?? [];
}

/** Whitespace-separated words in `text` (the fake's notion of a token count). */
export function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}

/** The text of a message `content` (a string, or the `text` of its `text` blocks joined by " "). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const block of content) {
    if (isRecord(block) && block['type'] === 'text' && typeof block['text'] === 'string') {
      parts.push(block['text']);
    }
  }
  return parts.join(' ');
}

/** The text of the last `role: "user"` message, whitespace collapsed to single spaces, trimmed. */
export function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (isRecord(m) && m['role'] === 'user') {
      return contentText(m['content']).replace(/\s+/g, ' ').trim();
    }
  }
  return '';
}

/**
 * The reply rule, for a Messages request body (only `model`, `messages`, `max_tokens`,
 * `stop_sequences` and `system` are looked at; missing ones are tolerated):
 *
 *   1. `echo` = the last user message's text (string content, or its text blocks joined by " "),
 *      whitespace collapsed to single spaces and trimmed, cut to its first MAX_ECHO_WORDS words;
 *      NO_TEXT_PLACEHOLDER if that is empty.
 *   2. full reply = `[<model>] Echo: <echo>`   e.g. "[claude-sonnet-4-5-20250929] Echo: Hi there"
 *   3. if any of `stop_sequences` occurs in it, the text is cut before the earliest occurrence
 *      (stop_reason "stop_sequence", stop_sequence = that string);
 *   4. tokens = tokenize(text) (words with their trailing space); if there are more than
 *      `max_tokens` of them only the first `max_tokens` are kept (stop_reason "max_tokens");
 *   5. otherwise stop_reason is "end_turn".
 *   usage.input_tokens  = max(1, words in `system` + words in every message's text);
 *   usage.output_tokens = number of tokens returned.
 */
export function planReply(request: unknown): ReplyPlan {
  const body = isRecord(request) ? request : {};
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  const words = lastUserText(body['messages']).split(' ').filter((w) => w !== '');
  const echo = words.slice(0, MAX_ECHO_WORDS).join(' ') || NO_TEXT_PLACEHOLDER;
  let text = `[${model}] Echo: ${echo}`;

  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;
  const stops = body['stop_sequences'];
  if (Array.isArray(stops)) {
    let at = -1;
    for (const s of stops) {
      if (typeof s !== 'string' || s === '') continue;
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        stopSequence = s;
      }
    }
    if (at >= 0) {
      text = text.slice(0, at);
      stopReason = 'stop_sequence';
    }
  }

  let tokens = tokenize(text);
  const maxTokens = body['max_tokens'];
  if (typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens >= 0 && tokens.length > maxTokens) {
    tokens = tokens.slice(0, maxTokens);
    text = tokens.join('');
    stopReason = 'max_tokens';
    stopSequence = null;
  }

  return { text, tokens, stopReason, stopSequence, inputTokens: countInputTokens(body), outputTokens: tokens.length };
}

/** The assistant text the fake answers `request` (a Messages request body) with. See planReply. */
export function expectedReply(request: unknown): string {
  return planReply(request).text;
}

/** usage.input_tokens for a request body: max(1, words in `system` + words in all message texts). */
export function countInputTokens(request: unknown): number {
  const body = isRecord(request) ? request : {};
  let n = countWords(contentText(body['system']));
  const messages = body['messages'];
  if (Array.isArray(messages)) {
    for (const m of messages) if (isRecord(m)) n += countWords(contentText(m['content']));
  }
  return Math.max(1, n);
}

// ---------------------------------------------------------------------------------------------
// Request validation (the subset of the real API's checks that matters for a translation layer)
// ---------------------------------------------------------------------------------------------

/** Returns an Anthropic-style error message, or null when the body is acceptable. */
export function validateMessagesBody(body: unknown, opts: { requireMaxTokens: boolean }): string | null {
  if (!isRecord(body)) return 'request body must be a JSON object';
  const model = body['model'];
  if (model === undefined) return 'model: Field required';
  if (typeof model !== 'string' || model === '') return 'model: Input should be a non-empty string';
  const messages = body['messages'];
  if (messages === undefined) return 'messages: Field required';
  if (!Array.isArray(messages)) return 'messages: Input should be a valid list';
  if (messages.length === 0) return 'messages: at least one message is required';
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isRecord(m)) return `messages.${i}: Input should be an object`;
    const role = m['role'];
    if (role !== 'user' && role !== 'assistant') {
      return `messages.${i}.role: Input should be 'user' or 'assistant' (got ${JSON.stringify(role)})`;
    }
    const content = m['content'];
    if (typeof content === 'string') continue;
    if (!Array.isArray(content)) return `messages.${i}.content: Input should be a string or a list of content blocks`;
    for (let j = 0; j < content.length; j++) {
      const block: unknown = content[j];
      if (!isRecord(block) || typeof block['type'] !== 'string') {
        return `messages.${i}.content.${j}: Input should be a content block with a string "type"`;
      }
      if (block['type'] === 'text' && typeof block['text'] !== 'string') {
        return `messages.${i}.content.${j}.text: Field required`;
      }
    }
  }
  if (opts.requireMaxTokens || body['max_tokens'] !== undefined) {
    const maxTokens = body['max_tokens'];
    if (maxTokens === undefined) return 'max_tokens: Field required';
    if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
      return 'max_tokens: Input should be an integer greater than or equal to 1';
    }
  }
  const system = body['system'];
  if (system !== undefined && typeof system !== 'string') {
    if (!Array.isArray(system)) return 'system: Input should be a string or a list of text blocks';
    for (let j = 0; j < system.length; j++) {
      const block: unknown = system[j];
      if (!isRecord(block) || block['type'] !== 'text' || typeof block['text'] !== 'string') {
        return `system.${j}: Input should be a text block`;
      }
    }
  }
  const stream = body['stream'];
  if (stream !== undefined && typeof stream !== 'boolean') return 'stream: Input should be a valid boolean';
  const stops = body['stop_sequences'];
  if (stops !== undefined && (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string'))) {
    return 'stop_sequences: Input should be a list of strings';
  }
  const temperature = body['temperature'];
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 1)) {
    return 'temperature: Input should be a number between 0 and 1';
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

export interface FakeAnthropicOptions {
  /** The only `x-api-key` accepted on /v1/*. Required, non-empty. */
  apiKey: string;
  /** Pause before each streamed `content_block_delta`, in ms. Default 0. */
  tokenDelayMs?: number;
  /** If given, only these model ids are served; any other gets 404 not_found_error. */
  models?: readonly string[];
  /** Largest accepted request body; bigger gets 413 request_too_large. Default 10 MiB. */
  maxBodyBytes?: number;
  /** How many requests GET /_fake/requests keeps (oldest dropped first). Default 500. */
  maxRecorded?: number;
  /** Called once per request (every route) when its response has finished or been aborted. */
  onRequest?: (entry: RequestLogEntry) => void;
}

/** Selected request headers as recorded; credentials are redacted to their last 4 characters. */
export interface RecordedHeaders {
  'x-api-key'?: string;
  authorization?: string;
  'anthropic-version'?: string;
  'anthropic-beta'?: string;
  'user-agent'?: string;
  'content-type'?: string;
  accept?: string;
}

export interface RecordedRequest {
  /** The `request-id` response header (`req_...`). */
  requestId: string;
  /** Epoch ms when the request arrived. */
  receivedAt: number;
  method: string;
  /** Path plus query string, as sent. */
  path: string;
  headers: RecordedHeaders;
  /** Whether `x-api-key` matched the configured key. */
  apiKeyValid: boolean;
  /** Parsed JSON body; the raw text (first 4 KiB) if it was not JSON; null if empty. */
  body: unknown;
  /** HTTP status answered. */
  status: number;
  /** Set on error answers: the Anthropic error type. */
  errorType?: AnthropicErrorType;
  /** True when answered as an SSE stream. */
  stream: boolean;
  /** The assistant text sent (on 200 answers to POST /v1/messages). */
  reply?: string;
  /** Epoch ms the first / last `text_delta` was written (streams only). */
  firstTokenAt?: number;
  lastTokenAt?: number;
  /** Epoch ms the response ended (or was aborted). */
  finishedAt?: number;
  /** True if the client went away before the response was complete. */
  aborted?: boolean;
}

export interface RequestLogEntry {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  model?: string;
  stream?: boolean;
  errorType?: AnthropicErrorType;
  aborted?: boolean;
}

export interface FakeAnthropic {
  /** Start listening (port 0 = ephemeral; host defaults to all interfaces). Resolves to `url`. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stop accepting connections, let in-flight responses finish for up to `graceMs` (default
   * 5000), then drop whatever is left. Resolves when the server is fully closed.
   */
  close(graceMs?: number): Promise<void>;
  /** `http://<host>:<port>` (127.0.0.1 when bound to all interfaces). Throws before listen(). */
  readonly url: string;
  /** The bound port. Throws before listen(). */
  readonly port: number;
  /** A snapshot of the recorded requests, oldest first. */
  requests(): RecordedRequest[];
  /** Forget all recorded requests. */
  resetRequests(): void;
  /** The underlying node:http server. */
  readonly server: http.Server;
}

const RECORDED_HEADERS = [
  'x-api-key',
  'authorization',
  'anthropic-version',
  'anthropic-beta',
  'user-agent',
  'content-type',
  'accept',
] as const;

class HttpError extends Error {
  readonly status: number;
  readonly type: AnthropicErrorType;
  readonly extraHeaders: Record<string, string>;
  constructor(status: number, type: AnthropicErrorType, message: string, extraHeaders: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.extraHeaders = extraHeaders;
  }
}

/** The client went away while its request was being read: nothing to answer, nothing to log. */
class ClientGone extends Error {}

function randomId(prefix: string): string {
  return prefix + '01' + randomBytes(18).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22);
}

/** "REDACTED...abcd" (last 4 characters kept when the value is at least 12 long). */
export function redact(value: string): string {
  return value.length >= 12 ? `REDACTED...${value.slice(-4)}` : 'REDACTED';
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function keyMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function usageObject(inputTokens: number, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function nonNegativeInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`createFakeAnthropic: ${name} must be a non-negative integer`);
  return value;
}

export function createFakeAnthropic(options: FakeAnthropicOptions): FakeAnthropic {
  if (typeof options.apiKey !== 'string' || options.apiKey === '') {
    throw new TypeError('createFakeAnthropic: apiKey is required');
  }
  const apiKey = options.apiKey;
  const tokenDelayMs = nonNegativeInt(options.tokenDelayMs, 0, 'tokenDelayMs');
  const maxBodyBytes = nonNegativeInt(options.maxBodyBytes, 10 * 1024 * 1024, 'maxBodyBytes');
  const maxRecorded = nonNegativeInt(options.maxRecorded, 500, 'maxRecorded');
  const allowedModels = options.models === undefined ? undefined : new Set(options.models);
  const onRequest = options.onRequest;

  let recorded: RecordedRequest[] = [];
  let closing = false;

  function record(r: RecordedRequest): void {
    recorded.push(r);
    if (recorded.length > maxRecorded) recorded = recorded.slice(recorded.length - maxRecorded);
  }

  function sendJson(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    const body = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...headers,
      ...(closing ? { connection: 'close' } : {}),
    });
    res.end(body);
  }

  function sendError(res: http.ServerResponse, requestId: string, err: HttpError): void {
    sendJson(
      res,
      err.status,
      { type: 'error', error: { type: err.type, message: err.message }, request_id: requestId },
      { 'request-id': requestId, ...err.extraHeaders },
    );
  }

  /** Reads the body, enforcing maxBodyBytes. Resolves to the raw text. */
  function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBodyBytes) {
        reject(new HttpError(413, 'request_too_large', `Request exceeds the maximum allowed size of ${maxBodyBytes} bytes`, { connection: 'close' }));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > maxBodyBytes) {
          done = true;
          chunks.length = 0;
          reject(new HttpError(413, 'request_too_large', `Request exceeds the maximum allowed size of ${maxBodyBytes} bytes`, { connection: 'close' }));
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (done) return;
        done = true;
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', () => {
        if (done) return;
        done = true;
        reject(new ClientGone());
      });
    });
  }

  function checkAuthAndVersion(req: http.IncomingMessage): void {
    const key = headerValue(req, 'x-api-key');
    if (key === undefined || key === '') throw new HttpError(401, 'authentication_error', 'x-api-key header is required');
    if (!keyMatches(key, apiKey)) throw new HttpError(401, 'authentication_error', 'invalid x-api-key');
    const version = headerValue(req, 'anthropic-version');
    if (version === undefined || version === '') {
      throw new HttpError(400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    if (!ANTHROPIC_VERSIONS.includes(version)) {
      throw new HttpError(400, 'invalid_request_error', `anthropic-version: unknown version ${JSON.stringify(version)}`);
    }
  }

  function parseJsonBody(raw: string): Record<string, unknown> {
    if (raw.trim() === '') throw new HttpError(400, 'invalid_request_error', 'request body is empty; expected a JSON object');
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new HttpError(400, 'invalid_request_error', `invalid JSON in request body: ${(e as Error).message}`);
    }
    if (!isRecord(parsed)) throw new HttpError(400, 'invalid_request_error', 'request body must be a JSON object');
    return parsed;
  }

  function checkModel(model: string): void {
    if (allowedModels !== undefined && !allowedModels.has(model)) {
      throw new HttpError(404, 'not_found_error', `model: ${model}`);
    }
  }

  async function streamReply(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: RecordedRequest,
    model: string,
    plan: ReplyPlan,
  ): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': rec.requestId,
      'x-accel-buffering': 'no',
      ...(closing ? { connection: 'close' } : {}),
    });
    const write = (event: string, data: unknown): void => {
      if (!abort.signal.aborted) res.write(sseFrame(event, data));
    };
    write('message_start', {
      type: 'message_start',
      message: {
        id: randomId('msg_'),
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageObject(plan.inputTokens, 1),
      },
    });
    write('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    write('ping', { type: 'ping' });
    for (const token of plan.tokens) {
      if (tokenDelayMs > 0) {
        try {
          await sleep(tokenDelayMs, undefined, { signal: abort.signal });
        } catch {
          break; // aborted by the client going away
        }
      }
      if (abort.signal.aborted) break;
      write('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: token } });
      const now = Date.now();
      rec.firstTokenAt ??= now;
      rec.lastTokenAt = now;
    }
    if (abort.signal.aborted) return;
    write('content_block_stop', { type: 'content_block_stop', index: 0 });
    write('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
      usage: {
        input_tokens: plan.inputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: plan.outputTokens,
      },
    });
    write('message_stop', { type: 'message_stop' });
    res.end();
  }

  async function handleMessages(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: RecordedRequest,
    log: RequestLogEntry,
    countOnly: boolean,
  ): Promise<void> {
    // Read the body first (size limit), so it is recorded even when the request is refused.
    const raw = await readBody(req);
    rec.body = raw === '' ? null : (() => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw.slice(0, 4096);
      }
    })();
    checkAuthAndVersion(req);
    const body = parseJsonBody(raw);
    const problem = validateMessagesBody(body, { requireMaxTokens: !countOnly });
    if (problem !== null) throw new HttpError(400, 'invalid_request_error', problem);
    const model = body['model'] as string;
    log.model = model;
    checkModel(model);

    if (countOnly) {
      rec.status = 200;
      sendJson(res, 200, { input_tokens: countInputTokens(body) }, { 'request-id': rec.requestId });
      return;
    }

    const plan = planReply(body);
    rec.reply = plan.text;
    rec.status = 200;
    if (body['stream'] === true) {
      rec.stream = true;
      log.stream = true;
      await streamReply(req, res, rec, model, plan);
      return;
    }
    log.stream = false;
    sendJson(
      res,
      200,
      {
        id: randomId('msg_'),
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: plan.text }],
        stop_reason: plan.stopReason,
        stop_sequence: plan.stopSequence,
        usage: usageObject(plan.inputTokens, plan.outputTokens),
      },
      { 'request-id': rec.requestId },
    );
  }

  function handleModels(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest): void {
    checkAuthAndVersion(req);
    const ids = options.models ?? DEFAULT_MODEL_IDS;
    const data = ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
    rec.status = 200;
    sendJson(
      res,
      200,
      { data, has_more: false, first_id: ids[0] ?? null, last_id: ids[ids.length - 1] ?? null },
      { 'request-id': rec.requestId },
    );
  }

  type Route = { methods: readonly string[]; recorded: boolean };
  const ROUTES: Record<string, Route> = {
    '/v1/messages': { methods: ['POST'], recorded: true },
    '/v1/messages/count_tokens': { methods: ['POST'], recorded: true },
    '/v1/models': { methods: ['GET'], recorded: true },
    '/health': { methods: ['GET', 'HEAD'], recorded: false },
    '/_fake/requests': { methods: ['GET', 'DELETE'], recorded: false },
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomId('req_');
    const method = req.method ?? 'GET';
    const rawPath = req.url ?? '/';
    let pathname: string;
    try {
      pathname = new URL(rawPath, 'http://fake.invalid').pathname;
    } catch {
      pathname = rawPath;
    }
    const route = Object.hasOwn(ROUTES, pathname) ? ROUTES[pathname] : undefined;
    const recordIt = route === undefined || route.recorded;

    const headers: RecordedHeaders = {};
    for (const name of RECORDED_HEADERS) {
      const v = headerValue(req, name);
      if (v === undefined) continue;
      headers[name] = name === 'x-api-key' || name === 'authorization' ? redact(v) : v;
    }
    const rec: RecordedRequest = {
      requestId,
      receivedAt: started,
      method,
      path: rawPath,
      headers,
      apiKeyValid: keyMatches(headerValue(req, 'x-api-key'), apiKey),
      body: null,
      status: 0,
      stream: false,
    };
    if (recordIt) record(rec);
    const log: RequestLogEntry = { requestId, method, path: rawPath, status: 0, durationMs: 0 };

    res.on('close', () => {
      rec.finishedAt = Date.now();
      if (!res.writableFinished) rec.aborted = true;
      rec.status = res.headersSent ? res.statusCode : 0;
      log.status = rec.status;
      log.durationMs = rec.finishedAt - started;
      if (rec.errorType !== undefined) log.errorType = rec.errorType;
      if (rec.aborted === true) log.aborted = true;
      if (closing) server.closeIdleConnections();
      try {
        onRequest?.(log);
      } catch {
        // a logging hook must never take the server down
      }
    });

    try {
      if (route === undefined) throw new HttpError(404, 'not_found_error', 'Not Found');
      if (!route.methods.includes(method)) {
        throw new HttpError(405, 'invalid_request_error', `Method ${method} not allowed on ${pathname}`, {
          allow: route.methods.join(', '),
        });
      }
      switch (pathname) {
        case '/health':
          sendJson(res, 200, { status: 'ok' });
          return;
        case '/_fake/requests':
          if (method === 'DELETE') {
            const cleared = recorded.length;
            recorded = [];
            sendJson(res, 200, { cleared });
          } else {
            sendJson(res, 200, recorded);
          }
          return;
        case '/v1/models':
          handleModels(req, res, rec);
          return;
        case '/v1/messages':
          await handleMessages(req, res, rec, log, false);
          return;
        case '/v1/messages/count_tokens':
          await handleMessages(req, res, rec, log, true);
          return;
      }
    } catch (e) {
      if (e instanceof ClientGone) {
        res.destroy();
        return;
      }
      const err = e instanceof HttpError ? e : new HttpError(500, 'api_error', 'Internal server error');
      if (!(e instanceof HttpError)) console.error(`fake-anthropic: internal error on ${method} ${rawPath}:`, e);
      rec.errorType = err.type;
      if (!res.headersSent) {
        sendError(res, requestId, err);
      } else {
        res.destroy();
      }
    }
  }

  const server = http.createServer({ keepAliveTimeout: 75_000, headersTimeout: 80_000, requestTimeout: 120_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      console.error('fake-anthropic: unhandled error:', e);
      res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  function address(): AddressInfo {
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('fake-anthropic: not listening');
    return a;
  }

  function urlOf(): string {
    const a = address();
    const host =
      a.address === '::' || a.address === '0.0.0.0' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  return {
    server,
    listen(port = 0, host?: string): Promise<string> {
      return new Promise((resolve, reject) => {
        const onError = (e: Error): void => reject(e);
        server.once('error', onError);
        const done = (): void => {
          server.off('error', onError);
          resolve(urlOf());
        };
        if (host === undefined) server.listen(port, done);
        else server.listen(port, host, done);
      });
    },
    close(graceMs = 5000): Promise<void> {
      if (!server.listening) return Promise.resolve();
      closing = true;
      return new Promise((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
    get url(): string {
      return urlOf();
    },
    get port(): number {
      return address().port;
    },
    requests(): RecordedRequest[] {
      return structuredClone(recorded);
    },
    resetRequests(): void {
      recorded = [];
    },
  };
}
