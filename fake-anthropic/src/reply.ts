/**
 * The fake's deterministic reply, pure (no I/O): what it answers a Messages request body with,
 * how it tokenises and counts, which request bodies it accepts, and the Message objects it
 * returns. Tests import this to predict answers without starting a server.
 */

/** At most this many words of the user's text are echoed back. */
export const MAX_ECHO_WORDS = 64;

/** Used when the last user message carries no text (e.g. only an image or a tool_result). */
export const NO_TEXT_PLACEHOLDER = '(no text)';

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

export function isRecord(value: unknown): value is Record<string, unknown> {
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

/** The full reply before any cut: `[<model>] Echo: <first MAX_ECHO_WORDS words of the last user text>`. */
function fullReply(body: Record<string, unknown>): string {
  const model = typeof body['model'] === 'string' ? body['model'] : '';
  const words = lastUserText(body['messages'])
    .split(' ')
    .filter((w) => w !== '');
  const echo = words.slice(0, MAX_ECHO_WORDS).join(' ') || NO_TEXT_PLACEHOLDER;
  return `[${model}] Echo: ${echo}`;
}

/** The earliest of `stops` (non-empty strings only) that occurs in `text`, and where. */
function earliestStop(text: string, stops: unknown): { at: number; sequence: string } | null {
  if (!Array.isArray(stops)) return null;
  let found: { at: number; sequence: string } | null = null;
  for (const s of stops) {
    if (typeof s !== 'string' || s === '') continue;
    const i = text.indexOf(s);
    if (i >= 0 && (found === null || i < found.at)) found = { at: i, sequence: s };
  }
  return found;
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
  let text = fullReply(body);
  let stopReason: StopReason = 'end_turn';
  let stopSequence: string | null = null;

  const stop = earliestStop(text, body['stop_sequences']);
  if (stop !== null) {
    text = text.slice(0, stop.at);
    stopReason = 'stop_sequence';
    stopSequence = stop.sequence;
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

/** The `usage` object of a Message (no caching, standard tier). */
export function usageObject(inputTokens: number, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

/** The complete Message answering a non-streaming request. */
export function messageObject(id: string, model: string, plan: ReplyPlan): Record<string, unknown> {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: plan.text }],
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    usage: usageObject(plan.inputTokens, plan.outputTokens),
  };
}

// ---------------------------------------------------------------------------------------------
// Request validation (the subset of the real API's checks that matters for a translation layer)
// ---------------------------------------------------------------------------------------------

/** Returns an Anthropic-style error message, or null when the body is acceptable. */
export function validateMessagesBody(body: unknown, opts: { requireMaxTokens: boolean }): string | null {
  if (!isRecord(body)) return 'request body must be a JSON object';
  return (
    checkModelField(body['model']) ??
    checkMessages(body['messages']) ??
    checkMaxTokens(body, opts.requireMaxTokens) ??
    checkSystem(body['system']) ??
    checkOptionalFields(body)
  );
}

function checkModelField(model: unknown): string | null {
  if (model === undefined) return 'model: Field required';
  if (typeof model !== 'string' || model === '') return 'model: Input should be a non-empty string';
  return null;
}

function checkMessages(messages: unknown): string | null {
  if (messages === undefined) return 'messages: Field required';
  if (!Array.isArray(messages)) return 'messages: Input should be a valid list';
  if (messages.length === 0) return 'messages: at least one message is required';
  for (let i = 0; i < messages.length; i++) {
    const problem = checkMessage(messages[i], i);
    if (problem !== null) return problem;
  }
  return null;
}

function checkMessage(m: unknown, i: number): string | null {
  if (!isRecord(m)) return `messages.${i}: Input should be an object`;
  const role = m['role'];
  if (role !== 'user' && role !== 'assistant') {
    return `messages.${i}.role: Input should be 'user' or 'assistant' (got ${JSON.stringify(role)})`;
  }
  const content = m['content'];
  if (typeof content === 'string') return null;
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
  return null;
}

/** count_tokens takes no max_tokens; /v1/messages requires it. Either way a given one must be valid. */
function checkMaxTokens(body: Record<string, unknown>, required: boolean): string | null {
  const maxTokens = body['max_tokens'];
  if (!required && maxTokens === undefined) return null;
  if (maxTokens === undefined) return 'max_tokens: Field required';
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return 'max_tokens: Input should be an integer greater than or equal to 1';
  }
  return null;
}

function checkSystem(system: unknown): string | null {
  if (system === undefined || typeof system === 'string') return null;
  if (!Array.isArray(system)) return 'system: Input should be a string or a list of text blocks';
  for (let j = 0; j < system.length; j++) {
    const block: unknown = system[j];
    if (!isRecord(block) || block['type'] !== 'text' || typeof block['text'] !== 'string') {
      return `system.${j}: Input should be a text block`;
    }
  }
  return null;
}

function checkOptionalFields(body: Record<string, unknown>): string | null {
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
