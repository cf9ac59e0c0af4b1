/**
 * A fake Anthropic Messages API upstream: the project's one allowed stand-in for the real
 * Anthropic API. LiteLLM's `anthropic/` provider is pointed at it (`api_base:
 * http://fake-anthropic:8080`) so that LiteLLM's own request/response translation is exercised
 * against Anthropic's real wire protocol (https://docs.anthropic.com/en/api/messages,
 * .../messages-streaming, .../errors).
 *
 * Zero runtime dependencies (node:* only) so the image is just a Node binary and these files.
 * This file is the HTTP server (routing, auth, limits, recording); the reply itself is in
 * reply.ts (pure) and the streaming frames in sse.ts.
 *
 * Endpoints
 *   POST   /v1/messages               Messages API, JSON or SSE (`"stream": true`)
 *   POST   /v1/messages/count_tokens  {input_tokens}
 *   GET    /v1/models                 model list (the configured allow-list, else DEFAULT_MODEL_IDS)
 *   POST   /v1/embeddings             Voyage AI's embeddings API (voyage.ts): Bearer auth, Voyage's shapes
 *   GET    /health                    {"status":"ok"} (no auth)
 *   GET    /_fake/requests            recorded /v1/* requests, oldest first (no auth)
 *   DELETE /_fake/requests            forget them
 *   PUT    /_fake/faults              fault rules for the next messages requests (faults.ts; no auth)
 *   GET    /_fake/faults              the rules still active; DELETE clears them
 *
 * The reply is deterministic; see `planReply` / `expectedReply` in reply.ts for the rule.
 * Anthropic's key may come as `x-api-key` (what LiteLLM sends) or `Authorization: Bearer` (what
 * the official SDKs send since their 1.x releases); the real API takes both.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { countInputTokens, isRecord, messageObject, planReply, validateMessagesBody, type ReplyPlan } from './reply.ts';
import { SSE_CONTENT_TYPE, pause, writeMessageStream } from './sse.ts';
import { VoyageError, embeddingsResponse, validateEmbeddingsBody } from './voyage.ts';
import { FAULT_ERRORS, FaultRules, FaultSpecError, directiveFault, parseRules, type Fault, type FaultKind } from './faults.ts';

/** Listed by GET /v1/models when no allow-list is configured (any model is then accepted). */
export const DEFAULT_MODEL_IDS: readonly string[] = ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001', 'claude-opus-4-1-20250805'];

/** The `anthropic-version` header values the real API accepts. */
export const ANTHROPIC_VERSIONS: readonly string[] = ['2023-06-01', '2023-01-01', '2026-10-21'];

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
  /** The `x-api-key` accepted on /v1/*. Required, non-empty. */
  apiKey: string;
  /** More keys accepted as well, as a console holds several keys of one workspace (a rotation's overlap). */
  extraApiKeys?: readonly string[];
  /** The Bearer keys POST /v1/embeddings (Voyage AI) accepts; none: every embeddings request is refused (401). */
  voyageApiKeys?: readonly string[];
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
  /** The fault this request was answered with (a rule's or its own `[[fault ...]]` directive). */
  fault?: FaultKind;
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

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

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

function keyMatches(given: string | undefined, accepted: readonly string[]): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  return accepted.some((expected) => {
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  });
}

function nonNegativeInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`createFakeAnthropic: ${name} must be a non-negative integer`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------------

/** The recorded requests, oldest first, at most `max`. Entries stay live: handlers fill them in. */
class RequestRecorder {
  readonly max: number;
  private list: RecordedRequest[] = [];
  constructor(max: number) {
    this.max = max;
  }
  add(r: RecordedRequest): void {
    this.list.push(r);
    if (this.list.length > this.max) this.list = this.list.slice(this.list.length - this.max);
  }
  entries(): readonly RecordedRequest[] {
    return this.list;
  }
  /** Forgets everything; returns how many were forgotten. */
  clear(): number {
    const n = this.list.length;
    this.list = [];
    return n;
  }
}

interface Context {
  readonly apiKeys: readonly string[];
  readonly voyageApiKeys: readonly string[];
  readonly tokenDelayMs: number;
  readonly maxBodyBytes: number;
  /** The allow-list as configured (listed by /v1/models) and as a set (checked). */
  readonly models: readonly string[] | undefined;
  readonly allowedModels: ReadonlySet<string> | undefined;
  readonly onRequest: ((entry: RequestLogEntry) => void) | undefined;
  readonly recorder: RequestRecorder;
  readonly faults: FaultRules;
  readonly server: http.Server;
  /** Set by close(): every response from then on says `connection: close`. */
  closing: boolean;
}

// ---------------------------------------------------------------------------------------------
// Responses and request checks
// ---------------------------------------------------------------------------------------------

function sendJson(ctx: Context, res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
    ...(ctx.closing ? { connection: 'close' } : {}),
  });
  res.end(body);
}

function sendError(ctx: Context, res: http.ServerResponse, requestId: string, err: HttpError): void {
  sendJson(
    ctx,
    res,
    err.status,
    { type: 'error', error: { type: err.type, message: err.message }, request_id: requestId },
    { 'request-id': requestId, ...err.extraHeaders },
  );
}

function tooLarge(maxBodyBytes: number): HttpError {
  return new HttpError(413, 'request_too_large', `Request exceeds the maximum allowed size of ${maxBodyBytes} bytes`, {
    connection: 'close',
  });
}

/** Reads the body, enforcing maxBodyBytes. Resolves to the raw text. */
function readBody(req: http.IncomingMessage, maxBodyBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      reject(tooLarge(maxBodyBytes));
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
        reject(tooLarge(maxBodyBytes));
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

/** What a request records as its body: parsed JSON, else the first 4 KiB of text, null if empty. */
function recordableBody(raw: string): unknown {
  if (raw === '') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw.slice(0, 4096);
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

/** The key a request presents: `x-api-key`, else an `Authorization: Bearer` token. */
function presentedKey(req: http.IncomingMessage): string | undefined {
  return headerValue(req, 'x-api-key') ?? bearerToken(req);
}

/** The token of an `Authorization: Bearer` header (Voyage's only way, Anthropic's second). */
function bearerToken(req: http.IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(headerValue(req, 'authorization') ?? '')?.[1];
}

function checkAuthAndVersion(req: http.IncomingMessage, apiKeys: readonly string[]): void {
  const key = presentedKey(req);
  if (key === undefined || key === '') throw new HttpError(401, 'authentication_error', 'x-api-key header is required');
  if (!keyMatches(key, apiKeys)) throw new HttpError(401, 'authentication_error', 'invalid x-api-key');
  const version = headerValue(req, 'anthropic-version');
  if (version === undefined || version === '') {
    throw new HttpError(400, 'invalid_request_error', 'anthropic-version: header is required');
  }
  if (!ANTHROPIC_VERSIONS.includes(version)) {
    throw new HttpError(400, 'invalid_request_error', `anthropic-version: unknown version ${JSON.stringify(version)}`);
  }
}

function checkModel(ctx: Context, model: string): void {
  if (ctx.allowedModels !== undefined && !ctx.allowedModels.has(model)) {
    throw new HttpError(404, 'not_found_error', `model: ${model}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Route handlers
// ---------------------------------------------------------------------------------------------

async function streamReply(
  ctx: Context,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rec: RecordedRequest,
  model: string,
  plan: ReplyPlan,
  fault: Fault | undefined,
): Promise<void> {
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const interrupt = interruption(res, fault);
  req.socket.setNoDelay(true);
  res.writeHead(200, {
    'content-type': SSE_CONTENT_TYPE,
    'cache-control': 'no-cache',
    'request-id': rec.requestId,
    'x-accel-buffering': 'no',
    ...(ctx.closing ? { connection: 'close' } : {}),
  });
  const complete = await writeMessageStream(
    (frame) => res.write(frame),
    { id: randomId('msg_'), model, plan },
    {
      tokenDelayMs: ctx.tokenDelayMs,
      signal: abort.signal,
      onToken: () => {
        const now = Date.now();
        rec.firstTokenAt ??= now;
        rec.lastTokenAt = now;
      },
      ...(interrupt ? { interrupt: { afterTokens: fault?.afterTokens ?? 2, run: interrupt } } : {}),
    },
  );
  if (complete) res.end();
}

/** POST /v1/messages (`countOnly` false) and POST /v1/messages/count_tokens (true). */
async function handleMessages(
  ctx: Context,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rec: RecordedRequest,
  log: RequestLogEntry,
  countOnly: boolean,
): Promise<void> {
  // Read the body first (size limit), so it is recorded even when the request is refused.
  const raw = await readBody(req, ctx.maxBodyBytes);
  rec.body = recordableBody(raw);
  checkAuthAndVersion(req, ctx.apiKeys);
  const body = parseJsonBody(raw);
  const problem = validateMessagesBody(body, { requireMaxTokens: !countOnly });
  if (problem !== null) throw new HttpError(400, 'invalid_request_error', problem);
  const model = body['model'] as string;
  log.model = model;
  checkModel(ctx, model);

  if (countOnly) {
    rec.status = 200;
    sendJson(ctx, res, 200, { input_tokens: countInputTokens(body) }, { 'request-id': rec.requestId });
    return;
  }

  let fault: Fault | undefined;
  try {
    fault = ctx.faults.take(model) ?? directiveFault(body);
  } catch (e) {
    if (e instanceof FaultSpecError) throw new HttpError(400, 'invalid_request_error', e.message);
    throw e;
  }
  rec.fault = fault?.kind;
  if (!(await faultBeforeReply(res, fault))) return;

  const plan = planReply(body);
  rec.reply = plan.text;
  rec.status = 200;
  if (body['stream'] === true) {
    rec.stream = true;
    log.stream = true;
    await streamReply(ctx, req, res, rec, model, plan, fault);
    return;
  }
  log.stream = false;
  const interrupt = interruption(res, fault);
  if (interrupt && !(await interrupt())) return;
  sendJson(ctx, res, 200, messageObject(randomId('msg_'), model, plan), { 'request-id': rec.requestId });
}

/**
 * Voyage AI's embeddings API. Its errors are Voyage's (`{"detail": ...}`: 400 invalid request, 401
 * key, 429 rate limit with `retry-after`, 500, 503), and the fault rules apply per model as for
 * messages: rate_limit 429, overloaded 503, api_error 500, slow_first_token a delay, stall a
 * response that never comes, cut a reset connection.
 */
async function handleEmbeddings(
  ctx: Context,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rec: RecordedRequest,
  log: RequestLogEntry,
): Promise<void> {
  const raw = await readBody(req, ctx.maxBodyBytes);
  rec.body = recordableBody(raw);
  const refuse = (status: number, detail: string, headers: Record<string, string> = {}) => {
    rec.status = status;
    sendJson(ctx, res, status, { detail }, { 'request-id': rec.requestId, ...headers });
  };
  if (!keyMatches(bearerToken(req), ctx.voyageApiKeys)) return refuse(401, 'Provided API key is invalid.');
  let request;
  try {
    request = validateEmbeddingsBody(JSON.parse(raw));
  } catch (e) {
    if (e instanceof SyntaxError) return refuse(400, 'Request body is not valid JSON.');
    if (e instanceof VoyageError) return refuse(e.status, e.message);
    throw e;
  }
  log.model = request.model;
  const fault = ctx.faults.take(request.model);
  rec.fault = fault?.kind;
  if (fault?.kind === 'rate_limit')
    return refuse(429, 'You have exceeded the rate limit (fake upstream fault).', { 'retry-after': String(fault.retryAfterSeconds ?? 1) });
  if (fault?.kind === 'overloaded') return refuse(503, 'Service unavailable (fake upstream fault).');
  if (fault?.kind === 'api_error') return refuse(500, 'Internal server error (fake upstream fault).');
  if (fault?.kind === 'slow_first_token' && !(await waitOrGone(res, fault.delayMs ?? 5000))) return;
  const interrupt = interruption(res, fault);
  if (interrupt && !(await interrupt())) return;
  rec.status = 200;
  sendJson(ctx, res, 200, embeddingsResponse(request), { 'request-id': rec.requestId });
}

function handleModels(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest): void {
  checkAuthAndVersion(req, ctx.apiKeys);
  const ids = ctx.models ?? DEFAULT_MODEL_IDS;
  const data = ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
  rec.status = 200;
  sendJson(
    ctx,
    res,
    200,
    { data, has_more: false, first_id: ids[0] ?? null, last_id: ids[ids.length - 1] ?? null },
    { 'request-id': rec.requestId },
  );
}

async function handleFakeFaults(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse, method: string): Promise<void> {
  if (method === 'PUT') {
    let rules;
    try {
      const raw = await readBody(req, ctx.maxBodyBytes);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new FaultSpecError('the body is not valid JSON');
      }
      rules = parseRules(parsed);
    } catch (e) {
      if (e instanceof FaultSpecError) throw new HttpError(400, 'invalid_request_error', e.message);
      throw e;
    }
    ctx.faults.set(rules);
    sendJson(ctx, res, 200, ctx.faults.list());
  } else if (method === 'DELETE') sendJson(ctx, res, 200, { cleared: ctx.faults.clear() });
  else sendJson(ctx, res, 200, ctx.faults.list());
}

/** Resolves when the client goes away (or after `ms`, if given): false if it went away. */
function waitOrGone(res: http.ServerResponse, ms: number | undefined): Promise<boolean> {
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  if (res.destroyed) gone.abort();
  return ms === undefined ? new Promise((resolve) => gone.signal.addEventListener('abort', () => resolve(false))) : pause(ms, gone.signal);
}

/** Applies a fault before any byte of the reply: throws its HTTP error, or delays; false if the client left. */
async function faultBeforeReply(res: http.ServerResponse, fault: Fault | undefined): Promise<boolean> {
  if (!fault) return true;
  const error = FAULT_ERRORS[fault.kind];
  if (error) {
    throw new HttpError(
      error.status,
      error.type,
      error.message,
      fault.kind === 'rate_limit' ? { 'retry-after': String(fault.retryAfterSeconds ?? 1) } : {},
    );
  }
  if (fault.kind === 'slow_first_token') return waitOrGone(res, fault.delayMs ?? 5000);
  return true;
}

/** A stall or a cut, where a stream is interrupted (a JSON answer: before it is sent). */
function interruption(res: http.ServerResponse, fault: Fault | undefined): (() => Promise<boolean>) | undefined {
  if (fault?.kind === 'stall') return () => waitOrGone(res, fault.delayMs);
  if (fault?.kind === 'cut') {
    return async () => {
      // Let what was written reach the client, then a TCP reset, as when a connection dies.
      await pause(50, new AbortController().signal);
      res.socket?.resetAndDestroy();
      return false;
    };
  }
  return undefined;
}

function handleFakeRequests(ctx: Context, res: http.ServerResponse, method: string): void {
  if (method === 'DELETE') sendJson(ctx, res, 200, { cleared: ctx.recorder.clear() });
  else sendJson(ctx, res, 200, ctx.recorder.entries());
}

// ---------------------------------------------------------------------------------------------
// Routing and recording
// ---------------------------------------------------------------------------------------------

interface Route {
  methods: readonly string[];
  /** Whether GET /_fake/requests lists it (unknown paths are recorded too). */
  recorded: boolean;
}

const ROUTES: Record<string, Route> = {
  '/v1/messages': { methods: ['POST'], recorded: true },
  '/v1/messages/count_tokens': { methods: ['POST'], recorded: true },
  '/v1/models': { methods: ['GET'], recorded: true },
  '/v1/embeddings': { methods: ['POST'], recorded: true },
  '/health': { methods: ['GET', 'HEAD'], recorded: false },
  '/_fake/requests': { methods: ['GET', 'DELETE'], recorded: false },
  '/_fake/faults': { methods: ['GET', 'PUT', 'DELETE'], recorded: false },
};

function pathnameOf(rawPath: string): string {
  try {
    return new URL(rawPath, 'http://fake.invalid').pathname;
  } catch {
    return rawPath;
  }
}

function recordedHeaders(req: http.IncomingMessage): RecordedHeaders {
  const headers: RecordedHeaders = {};
  for (const name of RECORDED_HEADERS) {
    const v = headerValue(req, name);
    if (v === undefined) continue;
    headers[name] = name === 'x-api-key' || name === 'authorization' ? redact(v) : v;
  }
  return headers;
}

function newRecord(ctx: Context, req: http.IncomingMessage, requestId: string, method: string, rawPath: string): RecordedRequest {
  return {
    requestId,
    receivedAt: Date.now(),
    method,
    path: rawPath,
    headers: recordedHeaders(req),
    apiKeyValid:
      pathnameOf(rawPath) === '/v1/embeddings'
        ? keyMatches(bearerToken(req), ctx.voyageApiKeys)
        : keyMatches(presentedKey(req), ctx.apiKeys),
    body: null,
    status: 0,
    stream: false,
  };
}

/** When the response has finished or been aborted: completes the record and reports the request. */
function onResponseClosed(ctx: Context, res: http.ServerResponse, rec: RecordedRequest, log: RequestLogEntry): void {
  rec.finishedAt = Date.now();
  if (!res.writableFinished) rec.aborted = true;
  rec.status = res.headersSent ? res.statusCode : 0;
  log.status = rec.status;
  log.durationMs = rec.finishedAt - rec.receivedAt;
  if (rec.errorType !== undefined) log.errorType = rec.errorType;
  if (rec.aborted === true) log.aborted = true;
  if (ctx.closing) ctx.server.closeIdleConnections();
  try {
    ctx.onRequest?.(log);
  } catch {
    // a logging hook must never take the server down
  }
}

async function dispatch(
  ctx: Context,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rec: RecordedRequest,
  log: RequestLogEntry,
  pathname: string,
  route: Route | undefined,
): Promise<void> {
  const method = rec.method;
  if (route === undefined) throw new HttpError(404, 'not_found_error', 'Not Found');
  if (!route.methods.includes(method)) {
    throw new HttpError(405, 'invalid_request_error', `Method ${method} not allowed on ${pathname}`, {
      allow: route.methods.join(', '),
    });
  }
  switch (pathname) {
    case '/health':
      sendJson(ctx, res, 200, { status: 'ok' });
      return;
    case '/_fake/requests':
      handleFakeRequests(ctx, res, method);
      return;
    case '/_fake/faults':
      await handleFakeFaults(ctx, req, res, method);
      return;
    case '/v1/models':
      handleModels(ctx, req, res, rec);
      return;
    case '/v1/messages':
      await handleMessages(ctx, req, res, rec, log, false);
      return;
    case '/v1/messages/count_tokens':
      await handleMessages(ctx, req, res, rec, log, true);
      return;
    case '/v1/embeddings':
      await handleEmbeddings(ctx, req, res, rec, log);
      return;
  }
}

/** Answers a failed request with Anthropic's error shape (a 500 api_error for unexpected ones). */
function answerError(ctx: Context, res: http.ServerResponse, rec: RecordedRequest, e: unknown): void {
  if (e instanceof ClientGone) {
    res.destroy();
    return;
  }
  const err = e instanceof HttpError ? e : new HttpError(500, 'api_error', 'Internal server error');
  if (!(e instanceof HttpError)) console.error(`fake-anthropic: internal error on ${rec.method} ${rec.path}:`, e);
  rec.errorType = err.type;
  if (!res.headersSent) {
    sendError(ctx, res, rec.requestId, err);
  } else {
    res.destroy();
  }
}

async function handle(ctx: Context, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const rawPath = req.url ?? '/';
  const rec = newRecord(ctx, req, randomId('req_'), req.method ?? 'GET', rawPath);
  const pathname = pathnameOf(rawPath);
  const route = Object.hasOwn(ROUTES, pathname) ? ROUTES[pathname] : undefined;
  if (route === undefined || route.recorded) ctx.recorder.add(rec);
  const log: RequestLogEntry = { requestId: rec.requestId, method: rec.method, path: rawPath, status: 0, durationMs: 0 };
  res.on('close', () => onResponseClosed(ctx, res, rec, log));
  try {
    await dispatch(ctx, req, res, rec, log, pathname, route);
  } catch (e) {
    answerError(ctx, res, rec, e);
  }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

function createServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): http.Server {
  const server = http.createServer({ keepAliveTimeout: 75_000, headersTimeout: 80_000, requestTimeout: 120_000 }, (req, res) => {
    handler(req, res).catch((e: unknown) => {
      console.error('fake-anthropic: unhandled error:', e);
      res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

function address(server: http.Server): AddressInfo {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('fake-anthropic: not listening');
  return a;
}

function urlOf(server: http.Server): string {
  const a = address(server);
  const host = a.address === '::' || a.address === '0.0.0.0' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve(urlOf(server));
    };
    if (host === undefined) server.listen(port, done);
    else server.listen(port, host, done);
  });
}

function close(ctx: Context, graceMs: number): Promise<void> {
  const { server } = ctx;
  if (!server.listening) return Promise.resolve();
  ctx.closing = true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export function createFakeAnthropic(options: FakeAnthropicOptions): FakeAnthropic {
  if (typeof options.apiKey !== 'string' || options.apiKey === '') {
    throw new TypeError('createFakeAnthropic: apiKey is required');
  }
  if (options.extraApiKeys?.some((k) => typeof k !== 'string' || k === '')) {
    throw new TypeError('createFakeAnthropic: extraApiKeys must be non-empty strings');
  }
  const ctx: Context = {
    apiKeys: [options.apiKey, ...(options.extraApiKeys ?? [])],
    voyageApiKeys: options.voyageApiKeys ?? [],
    tokenDelayMs: nonNegativeInt(options.tokenDelayMs, 0, 'tokenDelayMs'),
    maxBodyBytes: nonNegativeInt(options.maxBodyBytes, 10 * 1024 * 1024, 'maxBodyBytes'),
    models: options.models,
    allowedModels: options.models === undefined ? undefined : new Set(options.models),
    onRequest: options.onRequest,
    recorder: new RequestRecorder(nonNegativeInt(options.maxRecorded, 500, 'maxRecorded')),
    faults: new FaultRules(),
    server: createServer((req, res) => handle(ctx, req, res)),
    closing: false,
  };
  const { server } = ctx;
  return {
    server,
    listen: (port = 0, host?: string) => listen(server, port, host),
    close: (graceMs = 5000) => close(ctx, graceMs),
    get url(): string {
      return urlOf(server);
    },
    get port(): number {
      return address(server).port;
    },
    requests: () => structuredClone(ctx.recorder.entries()) as RecordedRequest[],
    resetRequests: () => {
      ctx.recorder.clear();
    },
  };
}
