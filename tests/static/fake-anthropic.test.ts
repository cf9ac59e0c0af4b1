// The fake Anthropic upstream, over real HTTP on ephemeral ports: Anthropic's Messages protocol
// (JSON and SSE), its error shapes and statuses, request recording, token pacing, and the pure
// reply rule that other tests use to predict answers.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../fake-anthropic/src/main.ts';
import { MAX_ECHO_WORDS, NO_TEXT_PLACEHOLDER, expectedReply, planReply, tokenize } from '../../fake-anthropic/src/reply.ts';
import { createFakeAnthropic, type FakeAnthropic, type RecordedRequest } from '../../fake-anthropic/src/server.ts';

const KEY = 'fake-upstream-test-key-0123456789-WXYZ';
const VERSION = '2023-06-01';
const MODEL = 'claude-sonnet-4-5-20250929';

const goodHeaders = { 'x-api-key': KEY, 'anthropic-version': VERSION, 'content-type': 'application/json' };

function request(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'Hello there, fake Claude!' }], ...over };
}

async function post(base: string, body: unknown, headers: Record<string, string> = goodHeaders, path = '/v1/messages'): Promise<Response> {
  return fetch(base + path, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
  /** Epoch ms at which the chunk completing this event was read. */
  at: number;
}

/** Reads an SSE response to the end, noting when each event arrived. */
async function readSse(res: Response): Promise<SseEvent[]> {
  if (res.body === null) throw new Error('no body');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const at = Date.now();
    buf += decoder.decode(value, { stream: true });
    let sep: number;
    while ((sep = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      let event = '';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      events.push({ event, data: JSON.parse(data) as Record<string, unknown>, at });
    }
  }
  expect(buf).toBe('');
  return events;
}

function deltaTexts(events: SseEvent[]): string[] {
  return events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data['delta'] as { type: string; text: string }).text);
}

async function expectAnthropicError(res: Response, status: number, type: string): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('request-id')).toMatch(/^req_\w+$/);
  const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string };
  expect(body.type).toBe('error');
  expect(body.error.type).toBe(type);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.request_id).toBe(res.headers.get('request-id'));
  return body.error.message;
}

async function recorded(base: string): Promise<RecordedRequest[]> {
  const res = await fetch(base + '/_fake/requests');
  expect(res.status).toBe(200);
  return (await res.json()) as RecordedRequest[];
}

describe('expectedReply (pure, no server)', () => {
  it('echoes the last user message after the model id', () => {
    expect(expectedReply(request())).toBe(`[${MODEL}] Echo: Hello there, fake Claude!`);
    expect(
      expectedReply({
        model: 'm1',
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'answer' },
          { role: 'user', content: [{ type: 'text', text: '  second\n\tquestion ' }, { type: 'image' }, { type: 'text', text: 'part' }] },
        ],
      }),
    ).toBe('[m1] Echo: second question part');
  });

  it('uses a placeholder without text and caps the echo', () => {
    expect(expectedReply({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image' }] }] })).toBe(
      `[m] Echo: ${NO_TEXT_PLACEHOLDER}`,
    );
    const words = Array.from({ length: MAX_ECHO_WORDS + 10 }, (_, i) => `w${i}`);
    const reply = expectedReply({ model: 'm', messages: [{ role: 'user', content: words.join(' ') }] });
    expect(reply).toBe(`[m] Echo: ${words.slice(0, MAX_ECHO_WORDS).join(' ')}`);
  });

  it('applies stop_sequences and max_tokens like the real API reports them', () => {
    const stopped = planReply(request({ stop_sequences: ['fake', 'there'] }));
    expect(stopped.text).toBe(`[${MODEL}] Echo: Hello `);
    expect(stopped.stopReason).toBe('stop_sequence');
    expect(stopped.stopSequence).toBe('there');
    const capped = planReply(request({ max_tokens: 3 }));
    expect(capped.tokens).toEqual([`[${MODEL}] `, 'Echo: ', 'Hello ']);
    expect(capped.stopReason).toBe('max_tokens');
    expect(capped.outputTokens).toBe(3);
    expect(planReply(request()).stopReason).toBe('end_turn');
  });

  it('tokenizes into words with their spaces, losslessly', () => {
    expect(tokenize('Echo: a  b\nc')).toEqual(['Echo: ', 'a  ', 'b\n', 'c']);
    for (const t of ['', '  lead', 'x', 'a b c ', expectedReply(request())]) expect(tokenize(t).join('')).toBe(t);
  });
});

describe('fake Anthropic over HTTP', () => {
  let fake: FakeAnthropic;
  let base: string;

  beforeAll(async () => {
    fake = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: 0 });
    base = await fake.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await fake.close(100);
  });

  it('answers /health', async () => {
    const res = await fetch(base + '/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers a non-streaming message in Anthropic’s shape', async () => {
    const body = request({ system: 'Be brief.', temperature: 0.2, metadata: { user_id: 'u1' } });
    const res = await post(base, body);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('request-id')).toMatch(/^req_\w+$/);
    const msg = (await res.json()) as Record<string, unknown>;
    const plan = planReply(body);
    expect(msg).toEqual({
      id: expect.stringMatching(/^msg_\w+$/),
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'text', text: expectedReply(body) }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: 2 + 4, // "Be brief." + "Hello there, fake Claude!"
        output_tokens: plan.tokens.length,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        service_tier: 'standard',
      },
    });
  });

  it('streams SSE events in Anthropic’s order whose deltas add up to the reply', async () => {
    const body = request({ stream: true, system: [{ type: 'text', text: 'Be brief.' }] });
    const res = await post(base, body);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('request-id')).toMatch(/^req_\w+$/);
    const events = await readSse(res);
    const expected = expectedReply(body);
    const n = tokenize(expected).length;
    expect(n).toBeGreaterThan(3);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array<string>(n).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(e.data['type']).toBe(e.event);
    expect(deltaTexts(events).join('')).toBe(expected);
    for (const e of events.filter((x) => x.event.startsWith('content_block'))) expect(e.data['index']).toBe(0);

    const start = events[0]!.data['message'] as Record<string, unknown>;
    expect(start).toMatchObject({
      id: expect.stringMatching(/^msg_\w+$/),
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [],
      stop_reason: null,
      stop_sequence: null,
    });
    expect((start['usage'] as Record<string, unknown>)['input_tokens']).toBe(6);
    expect(events[1]!.data['content_block']).toEqual({ type: 'text', text: '' });
    for (const e of events.filter((x) => x.event === 'content_block_delta')) {
      expect((e.data['delta'] as Record<string, unknown>)['type']).toBe('text_delta');
    }
    const md = events.at(-2)!.data;
    expect(md['delta']).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect((md['usage'] as Record<string, unknown>)['output_tokens']).toBe(n);
    expect((md['usage'] as Record<string, unknown>)['input_tokens']).toBe(6);
  });

  it('reports stop_sequence and max_tokens stops, streaming or not', async () => {
    const stopBody = request({ stop_sequences: ['fake'] });
    const stopped = (await (await post(base, stopBody)).json()) as Record<string, unknown>;
    expect(stopped['stop_reason']).toBe('stop_sequence');
    expect(stopped['stop_sequence']).toBe('fake');
    expect(stopped['content']).toEqual([{ type: 'text', text: `[${MODEL}] Echo: Hello there, ` }]);

    const capBody = request({ max_tokens: 2, stream: true });
    const events = await readSse(await post(base, capBody));
    expect(deltaTexts(events)).toEqual([`[${MODEL}] `, 'Echo: ']);
    expect(events.at(-2)!.data['delta']).toEqual({ stop_reason: 'max_tokens', stop_sequence: null });
    expect(deltaTexts(events).join('')).toBe(expectedReply(capBody));
  });

  it('refuses a missing or wrong key (x-api-key or Authorization: Bearer) with 401 authentication_error', async () => {
    const { 'x-api-key': _dropped, ...noKey } = goodHeaders;
    await expectAnthropicError(await post(base, request(), noKey), 401, 'authentication_error');
    await expectAnthropicError(await post(base, request(), { ...goodHeaders, 'x-api-key': KEY + 'x' }), 401, 'authentication_error');
    await expectAnthropicError(await post(base, request(), { ...goodHeaders, 'x-api-key': 'short' }), 401, 'authentication_error');
    // The official SDKs send the key as a Bearer token (1.x and 2.x), which the real API takes.
    expect((await post(base, request(), { ...noKey, authorization: `Bearer ${KEY}` })).status).toBe(200);
    await expectAnthropicError(await post(base, request(), { ...noKey, authorization: `Bearer ${KEY}x` }), 401, 'authentication_error');
  });

  it('refuses malformed requests with 400 invalid_request_error', async () => {
    const { 'anthropic-version': _v, ...noVersion } = goodHeaders;
    expect(await expectAnthropicError(await post(base, request(), noVersion), 400, 'invalid_request_error')).toMatch(/anthropic-version/);
    await expectAnthropicError(
      await post(base, request(), { ...goodHeaders, 'anthropic-version': '1999-01-01' }),
      400,
      'invalid_request_error',
    );
    expect(await expectAnthropicError(await post(base, '{"model": '), 400, 'invalid_request_error')).toMatch(/JSON/);
    await expectAnthropicError(await post(base, ''), 400, 'invalid_request_error');
    await expectAnthropicError(await post(base, '[1,2]'), 400, 'invalid_request_error');
    const without = (field: string): Record<string, unknown> => {
      const r = request();
      delete r[field];
      return r;
    };
    for (const field of ['model', 'messages', 'max_tokens']) {
      expect(await expectAnthropicError(await post(base, without(field)), 400, 'invalid_request_error')).toMatch(
        new RegExp(`^${field}: Field required`),
      );
    }
    const bad: Record<string, unknown>[] = [
      request({ messages: [] }),
      request({ messages: [{ role: 'system', content: 'x' }] }),
      request({ messages: [{ role: 'user', content: 42 }] }),
      request({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }),
      request({ max_tokens: 0 }),
      request({ max_tokens: '10' }),
      request({ stream: 'yes' }),
      request({ system: [{ type: 'image' }] }),
      request({ stop_sequences: 'stop' }),
      request({ temperature: 3 }),
    ];
    for (const b of bad) await expectAnthropicError(await post(base, b), 400, 'invalid_request_error');
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    await expectAnthropicError(await post(base, request(), goodHeaders, '/v1/complete'), 404, 'not_found_error');
    await expectAnthropicError(await post(base, request(), goodHeaders, '/v1/messages/'), 404, 'not_found_error');
    const res = await fetch(base + '/v1/messages', { headers: goodHeaders });
    await expectAnthropicError(res, 405, 'invalid_request_error');
    expect(res.headers.get('allow')).toBe('POST');
    await expectAnthropicError(await fetch(base + '/health', { method: 'POST' }), 405, 'invalid_request_error');
  });

  it('serves count_tokens and the model list', async () => {
    const res = await post(
      base,
      { model: MODEL, messages: [{ role: 'user', content: 'one two three' }] },
      goodHeaders,
      '/v1/messages/count_tokens',
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ input_tokens: 3 });
    const models = await fetch(base + '/v1/models', { headers: goodHeaders });
    expect(models.status).toBe(200);
    const list = (await models.json()) as { data: { type: string; id: string }[]; has_more: boolean };
    expect(list.has_more).toBe(false);
    expect(list.data.map((m) => m.id)).toContain(MODEL);
    expect(list.data.every((m) => m.type === 'model')).toBe(true);
    await expectAnthropicError(await fetch(base + '/v1/models'), 401, 'authentication_error');
  });

  it('records requests with redacted keys, and forgets them on DELETE', async () => {
    expect((await fetch(base + '/_fake/requests', { method: 'DELETE' })).status).toBe(200);
    expect(await recorded(base)).toEqual([]);

    const body = request({ metadata: { user_id: 'abc' } });
    await (await post(base, body, { ...goodHeaders, 'anthropic-beta': 'beta-a,beta-b', 'user-agent': 'probe/1' })).json();
    await (await post(base, request(), { ...goodHeaders, 'x-api-key': 'nope-nope-nope' })).json();
    await (await post(base, '{oops')).json();
    await (await fetch(base + '/health')).json();

    const recs = await recorded(base);
    expect(JSON.stringify(recs)).not.toContain(KEY);
    expect(recs).toHaveLength(3); // /health and /_fake are not recorded
    expect(recs[0]).toMatchObject({
      method: 'POST',
      path: '/v1/messages',
      status: 200,
      stream: false,
      apiKeyValid: true,
      body,
      reply: expectedReply(body),
      headers: {
        'x-api-key': `REDACTED...${KEY.slice(-4)}`,
        'anthropic-version': VERSION,
        'anthropic-beta': 'beta-a,beta-b',
        'user-agent': 'probe/1',
        'content-type': 'application/json',
      },
    });
    expect(recs[0]!.requestId).toMatch(/^req_/);
    expect(recs[0]!.finishedAt).toBeGreaterThanOrEqual(recs[0]!.receivedAt);
    expect(recs[1]).toMatchObject({ status: 401, apiKeyValid: false, errorType: 'authentication_error' });
    expect(recs[1]!.headers['x-api-key']).toBe('REDACTED...nope');
    expect(recs[2]).toMatchObject({ status: 400, errorType: 'invalid_request_error', body: '{oops' });
    expect(fake.requests()).toEqual(recs);

    const del = await fetch(base + '/_fake/requests', { method: 'DELETE' });
    expect(await del.json()).toEqual({ cleared: 3 });
    expect(await recorded(base)).toEqual([]);
    fake.resetRequests();
    expect(fake.requests()).toEqual([]);
  });

  it('survives a client that hangs up mid-stream and garbage on the wire', async () => {
    const slow = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: 40 });
    const slowBase = await slow.listen(0, '127.0.0.1');
    try {
      const ctl = new AbortController();
      const res = await fetch(slowBase + '/v1/messages', {
        method: 'POST',
        headers: goodHeaders,
        body: JSON.stringify(request({ stream: true })),
        signal: ctl.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      ctl.abort();
      await expect(reader.read()).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 150));
      const [rec] = slow.requests();
      expect(rec).toMatchObject({ stream: true, aborted: true });

      const garbage = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(slow.port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'));
        let got = '';
        sock.on('data', (d) => (got += d.toString()));
        sock.on('end', () => resolve(got));
        sock.on('error', reject);
      });
      expect(garbage).toMatch(/^HTTP\/1\.1 400/);
      expect((await fetch(slowBase + '/health')).status).toBe(200);
    } finally {
      await slow.close(100);
    }
  });
});

describe('fake Anthropic options', () => {
  it('serves only the configured models: others get 404 not_found_error', async () => {
    const fake = createFakeAnthropic({ apiKey: KEY, models: [MODEL] });
    const base = await fake.listen(0, '127.0.0.1');
    try {
      expect((await post(base, request())).status).toBe(200);
      const msg = await expectAnthropicError(await post(base, request({ model: 'claude-nonexistent-1' })), 404, 'not_found_error');
      expect(msg).toContain('claude-nonexistent-1');
      const list = (await (await fetch(base + '/v1/models', { headers: goodHeaders })).json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    } finally {
      await fake.close(100);
    }
  });

  it('refuses bodies over the limit with 413 request_too_large', async () => {
    const fake = createFakeAnthropic({ apiKey: KEY, maxBodyBytes: 1024 });
    const base = await fake.listen(0, '127.0.0.1');
    try {
      const big = request({ messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
      await expectAnthropicError(await post(base, big), 413, 'request_too_large');
      expect((await post(base, request())).status).toBe(200);
    } finally {
      await fake.close(100);
    }
  });

  it('paces streamed tokens by tokenDelayMs, so streaming is distinguishable from buffering', async () => {
    const delay = 50;
    const fake = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: delay });
    const base = await fake.listen(0, '127.0.0.1');
    try {
      const body = request({ stream: true });
      const events = await readSse(await post(base, body));
      const deltas = events.filter((e) => e.event === 'content_block_delta');
      const n = tokenize(expectedReply(body)).length;
      expect(deltas).toHaveLength(n);
      const spread = deltas.at(-1)!.at - deltas[0]!.at;
      // margins leave room for a busy CI machine (a stalled event loop can merge two reads)
      expect(spread).toBeGreaterThanOrEqual((n - 1) * delay * 0.5);
      // deltas arrive one by one, not in a single burst
      const distinctArrivals = new Set(deltas.map((d) => d.at)).size;
      expect(distinctArrivals).toBeGreaterThanOrEqual(Math.ceil(n / 2));

      const [rec] = fake.requests();
      expect(rec!.stream).toBe(true);
      expect(rec!.lastTokenAt! - rec!.firstTokenAt!).toBeGreaterThanOrEqual((n - 1) * delay * 0.9);
      // the client had its first token well before the upstream wrote its last one
      expect(deltas[0]!.at).toBeLessThan(rec!.lastTokenAt!);
      expect(rec!.finishedAt).toBeGreaterThanOrEqual(rec!.lastTokenAt!);
    } finally {
      await fake.close(100);
    }
  });

  it('lets an in-flight stream finish on close()', async () => {
    const fake = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: 20 });
    const base = await fake.listen(0, '127.0.0.1');
    const body = request({ stream: true });
    const res = await post(base, body);
    const reading = readSse(res);
    await new Promise((r) => setTimeout(r, 30));
    const closed = fake.close(5000);
    const events = await reading;
    expect(deltaTexts(events).join('')).toBe(expectedReply(body));
    expect(events.at(-1)!.event).toBe('message_stop');
    await closed;
    expect(fake.server.listening).toBe(false);
  });

  it('accepts its extra keys as well (a rotation overlap at the console), and no other', async () => {
    const fake = createFakeAnthropic({ apiKey: KEY, extraApiKeys: ['second-key'] });
    const url = await fake.listen(0, '127.0.0.1');
    try {
      const body = { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
      const status = async (key: string) => (await post(url, body, { ...goodHeaders, 'x-api-key': key })).status;
      expect([await status(KEY), await status('second-key'), await status('third-key')]).toEqual([200, 200, 401]);
    } finally {
      await fake.close(1000);
    }
  });

  it('rejects a missing api key at construction', () => {
    expect(() => createFakeAnthropic({ apiKey: '' })).toThrow(/apiKey/);
    expect(() => createFakeAnthropic({ apiKey: KEY, extraApiKeys: [''] })).toThrow(/extraApiKeys/);
  });
});

describe('fake Anthropic entrypoint config', () => {
  it('requires FAKE_ANTHROPIC_API_KEY and applies defaults', () => {
    expect(() => parseConfig({})).toThrow(ConfigError);
    expect(() => parseConfig({ FAKE_ANTHROPIC_API_KEY: '  ' })).toThrow(/FAKE_ANTHROPIC_API_KEY/);
    expect(parseConfig({ FAKE_ANTHROPIC_API_KEY: 'k' })).toEqual({
      apiKey: 'k',
      extraApiKeys: [],
      voyageApiKeys: [],
      port: 8080,
      tokenDelayMs: 30,
      models: undefined,
      maxBodyBytes: undefined,
    });
    expect(parseConfig({ FAKE_ANTHROPIC_API_KEY: 'k', PORT: '9090', TOKEN_DELAY_MS: '0', FAKE_ANTHROPIC_MODELS: 'a, b,' })).toMatchObject({
      port: 9090,
      tokenDelayMs: 0,
      models: ['a', 'b'],
    });
    expect(parseConfig({ FAKE_ANTHROPIC_API_KEY: 'k', FAKE_ANTHROPIC_EXTRA_API_KEYS: ' k2,, k3 ' })).toMatchObject({
      apiKey: 'k',
      extraApiKeys: ['k2', 'k3'],
    });
    expect(() => parseConfig({ FAKE_ANTHROPIC_API_KEY: 'k', PORT: 'http' })).toThrow(/PORT/);
    expect(() => parseConfig({ FAKE_ANTHROPIC_API_KEY: 'k', TOKEN_DELAY_MS: '-5' })).toThrow(/TOKEN_DELAY_MS/);
  });
});

describe('fake Anthropic faults', () => {
  let fake: FakeAnthropic;
  let base = '';
  const faults = (rules: unknown) =>
    fetch(base + '/_fake/faults', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rules) });
  const say = (text: string, over: Record<string, unknown> = {}) => request({ messages: [{ role: 'user', content: text }], ...over });

  beforeAll(async () => {
    fake = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: 5 });
    base = await fake.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await fake.close();
  });

  it('a rule for one model answers its next request 529 overloaded_error, then the upstream is healthy again', async () => {
    expect((await faults([{ kind: 'overloaded', model: MODEL, times: 1 }])).status).toBe(200);
    fake.resetRequests();
    expect((await post(base, request({ model: 'claude-other' }))).status).toBe(200); // another model: untouched
    await expectAnthropicError(await post(base, request()), 529, 'overloaded_error');
    expect((await post(base, request())).status).toBe(200);
    expect((await recorded(base)).map((r) => [r.status, r.fault ?? null])).toEqual([
      [200, null],
      [529, 'overloaded'],
      [200, null],
    ]);
    expect(await (await fetch(base + '/_fake/faults')).json()).toEqual([]);
  });

  it('a directive fails every attempt of its request: 429 with retry-after, 500 api_error', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await post(base, say('please [[fault rate_limit retry_after=3]] now'));
      expect(res.headers.get('retry-after')).toBe('3');
      await expectAnthropicError(res, 429, 'rate_limit_error');
    }
    await expectAnthropicError(await post(base, say('[[fault api_error]]', { stream: true })), 500, 'api_error');
  });

  it('slow_first_token holds the answer back', async () => {
    const t0 = Date.now();
    const res = await post(base, say('[[fault slow_first_token delay_ms=400]] hi', { stream: true }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(deltaTexts(await readSse(res)).join('')).toBe(expectedReply(say('[[fault slow_first_token delay_ms=400]] hi')));
  });

  it('stall stops a stream mid-way for a while, then it completes', async () => {
    const events = await readSse(await post(base, say('[[fault stall delay_ms=400 after_tokens=2]] one two three', { stream: true })));
    const deltas = events.filter((e) => e.event === 'content_block_delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas[2]!.at - deltas[1]!.at).toBeGreaterThanOrEqual(380);
    expect(events.at(-1)?.event).toBe('message_stop');
  });

  it('cut resets the connection after some tokens, with no message_stop', async () => {
    const res = await post(base, say('[[fault cut after_tokens=2]] one two three four', { stream: true }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    await expect(
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return 'ended cleanly';
          text += new TextDecoder().decode(value);
        }
      })(),
    ).rejects.toThrow();
    // A reset may drop bytes still in flight: at most the two deltas sent before it arrive.
    expect(text.match(/event: content_block_delta/g)?.length ?? 0).toBeLessThanOrEqual(2);
    expect(text).not.toContain('message_stop');
    expect((await recorded(base)).at(-1)).toMatchObject({ fault: 'cut', aborted: true });
  });

  it('refuses malformed rules and directives with invalid_request_error, naming the problem', async () => {
    expect(await expectAnthropicError(await faults({ kind: 'overloaded' }), 400, 'invalid_request_error')).toMatch(/JSON array/);
    expect(await expectAnthropicError(await faults([{ kind: 'melted' }]), 400, 'invalid_request_error')).toMatch(
      /kind must be one of rate_limit, overloaded/,
    );
    expect(await expectAnthropicError(await faults([{ kind: 'overloaded', times: 0 }]), 400, 'invalid_request_error')).toMatch(
      /times must be at least 1/,
    );
    expect(await expectAnthropicError(await post(base, say('[[fault stall bogus=1]]')), 400, 'invalid_request_error')).toMatch(
      /option bogus/,
    );
    expect((await fetch(base + '/_fake/faults', { method: 'DELETE' })).status).toBe(200);
  });
});
