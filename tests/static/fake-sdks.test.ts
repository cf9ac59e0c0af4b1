// The official Anthropic SDKs against the fake upstream, as a client other than LiteLLM meets it:
// the TypeScript SDK from npm and the Python SDK from PyPI (in a venv under .build/, made once per
// requirements file). Both send the key as `Authorization: Bearer` and API version 2026-10-21 since
// their 1.x releases; every message, stream event and error they parse must come out right.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecret } from '../../lib/secrets.ts';
import Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic } from '../../fake-anthropic/src/server.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { BUILD_DIR } from '../../lib/paths.ts';

const run = promisify(execFile);
// Made per run: no key-shaped literal in the tree.
const KEY = randomSecret('fake-anthropic-');
const MODEL = 'claude-sonnet-4-5-20250929';
const SDK_DIR = join(import.meta.dirname, 'sdk');
/** The event types of a streamed message (the Python SDK adds its own helper events, e.g. `text`). */
const STREAM_EVENTS = [
  'content_block_delta',
  'content_block_start',
  'content_block_stop',
  'message_delta',
  'message_start',
  'message_stop',
];

let fake: FakeAnthropic;
let base = '';
beforeAll(async () => {
  fake = createFakeAnthropic({ apiKey: KEY, tokenDelayMs: 0 });
  base = await fake.listen(0, '127.0.0.1');
});
afterAll(() => fake.close(1000));

/** A Python with the SDK of sdk/requirements.txt: a venv made once (under a temporary name, then renamed). */
async function pythonWithSdk(): Promise<string> {
  const requirements = join(SDK_DIR, 'requirements.txt');
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const venv = join(BUILD_DIR, `anthropic-sdk-venv-${hash}`);
  const python = join(venv, 'bin', 'python');
  if (existsSync(python)) return python;
  const tmp = `${venv}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await run('python3', ['-m', 'venv', tmp]);
    await run(join(tmp, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements]);
  } catch (e) {
    throw new Error(`could not make a Python (>= 3.10, with venv) holding ${requirements}: ${(e as Error).message}`, { cause: e });
  }
  renameSync(tmp, venv);
  return python;
}

describe('the official TypeScript SDK (@anthropic-ai/sdk)', () => {
  const client = (apiKey = KEY) => new Anthropic({ apiKey, baseURL: base, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'Hello from the SDK' }];

  it('authenticates with Authorization: Bearer, which the fake takes as the real API does', async () => {
    fake.resetRequests();
    const msg = await client().messages.create({ model: MODEL, max_tokens: 64, messages });
    expect(msg.content[0]).toMatchObject({ type: 'text', text: expectedReply({ model: MODEL, messages }) });
    const rec = fake.requests().at(-1)!;
    expect(rec.headers.authorization).toBe(`REDACTED...${KEY.slice(-4)}`);
    expect(rec.headers['x-api-key']).toBeUndefined();
    expect(rec.apiKeyValid).toBe(true);
  });

  it('parses a message, its usage and stop reason', async () => {
    const msg = await client().messages.create({ model: MODEL, max_tokens: 64, messages });
    expect(msg).toMatchObject({ type: 'message', role: 'assistant', model: MODEL, stop_reason: 'end_turn' });
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
  });

  it('streams: every event type parses and the final message equals the reply', async () => {
    const stream = client().messages.stream({ model: MODEL, max_tokens: 64, messages });
    const types = new Set<string>();
    let text = '';
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    const final = await stream.finalMessage();
    expect(text).toBe(expectedReply({ model: MODEL, messages }));
    expect(final.content[0]).toMatchObject({ type: 'text', text });
    expect([...types].sort()).toEqual(STREAM_EVENTS);
  });

  it('counts tokens and lists models', async () => {
    expect((await client().messages.countTokens({ model: MODEL, messages })).input_tokens).toBeGreaterThan(0);
    const models = [];
    for await (const m of client().models.list()) models.push(m.id);
    expect(models).toContain(MODEL);
  });

  it("maps the fake's errors to the SDK's classes: 401, 400, 429 with retry-after, 529, 500", async () => {
    await expect(client('sk-ant-wrong').messages.create({ model: MODEL, max_tokens: 8, messages })).rejects.toBeInstanceOf(
      Anthropic.AuthenticationError,
    );
    await expect(client().messages.create({ model: MODEL, max_tokens: 0, messages })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    const fault = (kind: string) =>
      client().messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: `[[fault ${kind}]]` }] });
    const limited = await fault('rate_limit retry_after=2').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after')).toBe('2');
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).error).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error' },
    });
    const overloaded = await fault('overloaded').catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    await expect(fault('api_error')).rejects.toBeInstanceOf(Anthropic.InternalServerError);
  });
});

describe('the official Python SDK (anthropic on PyPI)', () => {
  it('creates, streams, counts, lists, and raises its own error classes', { timeout: 180_000 }, async () => {
    const python = await pythonWithSdk();
    const { stdout } = await run(python, [join(SDK_DIR, 'anthropic_sdk_check.py'), base, KEY, MODEL]);
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    const reply = expectedReply({ model: MODEL, messages: [{ role: 'user', content: 'Hello from the Python SDK' }] });
    expect(seen['sdk']).toBe('2.17.0');
    expect(seen['message']).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn', text: reply });
    expect(seen['stream']).toMatchObject({ deltas: reply, text: reply });
    expect((seen['stream'] as { events: string[] }).events).toEqual(expect.arrayContaining(STREAM_EVENTS));
    expect(seen['count_tokens']).toBeGreaterThan(0);
    expect(seen['models']).toContain(MODEL);
    expect(seen['errors']).toEqual({
      '401': ['AuthenticationError', 401, 'authentication_error'],
      '400': ['BadRequestError', 400, 'invalid_request_error'],
      '429': ['RateLimitError', 429, 'rate_limit_error', '2'],
      '529': [expect.any(String), 529, 'overloaded_error', null],
      '500': ['InternalServerError', 500, 'api_error', null],
    });
  });
});
