// The fake upstream's second API: Voyage AI's embeddings (fake-anthropic/src/voyage.ts), in
// Voyage's shapes, with vectors a retrieval test can rely on, and Voyage's errors and faults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecret } from '../../lib/secrets.ts';
import { createFakeAnthropic, type FakeAnthropic } from '../../fake-anthropic/src/server.ts';
import { cosine, embed } from '../../fake-anthropic/src/voyage.ts';

// Made per run: no key-shaped literal in the tree.
const KEY = randomSecret('fake-anthropic-');
const VOYAGE_KEY = randomSecret('fake-voyage-');

let fake: FakeAnthropic;
let base = '';
beforeAll(async () => {
  fake = createFakeAnthropic({ apiKey: KEY, voyageApiKeys: [VOYAGE_KEY], tokenDelayMs: 0 });
  base = await fake.listen(0, '127.0.0.1');
});
afterAll(() => fake.close(1000));

async function embeddings(body: unknown, key: string | null = VOYAGE_KEY) {
  const res = await fetch(`${base}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const PASSAGES = {
  tides: 'The tides rise and fall twice a day because the moon pulls the oceans toward it.',
  tax: 'Quarterly tax filings are due at the end of the month after the quarter closes.',
  bread: 'Sourdough bread needs a starter, flour, water and salt, and a long slow rise.',
};

describe('Voyage embeddings (POST /v1/embeddings)', () => {
  it("answers in Voyage's shape: a 1024-float vector per input, in order, with token usage", async () => {
    const r = await embeddings({ input: Object.values(PASSAGES), model: 'voyage-3.5', input_type: 'document' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    const data = r.body['data'] as { object: string; embedding: number[]; index: number }[];
    expect(r.body).toMatchObject({ object: 'list', model: 'voyage-3.5', usage: { total_tokens: expect.any(Number) } });
    expect(data.map((d) => [d.object, d.index, d.embedding.length])).toEqual([
      ['embedding', 0, 1024],
      ['embedding', 1, 1024],
      ['embedding', 2, 1024],
    ]);
    expect(Math.hypot(...data[0]!.embedding)).toBeCloseTo(1, 6);
  });

  it('is deterministic, and a question lands nearest the passage that shares its words', () => {
    const q = embed('Why do the tides rise twice a day?', 1024);
    expect(embed('Why do the tides rise twice a day?', 1024)).toEqual(q);
    const scores = Object.fromEntries(Object.entries(PASSAGES).map(([k, t]) => [k, cosine(q, embed(t, 1024))]));
    expect(scores['tides']).toBeGreaterThan(0.3);
    expect(scores['tides']).toBeGreaterThan(3 * Math.max(Math.abs(scores['tax']!), Math.abs(scores['bread']!)));
  });

  it('takes output_dimension the model allows, and base64 floats', async () => {
    const small = await embeddings({ input: 'moon', model: 'voyage-3.5', output_dimension: 256 });
    expect((small.body['data'] as { embedding: number[] }[])[0]!.embedding).toHaveLength(256);
    const b64 = await embeddings({ input: 'moon', model: 'voyage-3.5', encoding_format: 'base64' });
    const buf = Buffer.from((b64.body['data'] as { embedding: string }[])[0]!.embedding, 'base64');
    const floats = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
    expect(floats).toHaveLength(1024);
    embed('moon', 1024).forEach((x, i) => expect(floats[i]).toBeCloseTo(x, 6));
  });

  it.each([
    [{ input: 'x', model: 'voyage-9' }, 400, /Model voyage-9 is not supported/],
    [{ model: 'voyage-3.5' }, 400, /'input'/],
    [{ input: [], model: 'voyage-3.5' }, 400, /'input'/],
    [{ input: 'x', model: 'voyage-3.5', input_type: 'passage' }, 400, /'input_type'/],
    [{ input: 'x', model: 'voyage-law-2', output_dimension: 256 }, 400, /output_dimension 1024/],
    [{ input: 'x', model: 'voyage-3.5', output_dtype: 'int8' }, 400, /float only/],
    [{ input: Array.from({ length: 1001 }, () => 'x'), model: 'voyage-3.5' }, 400, /batch size limit is 1000/],
  ])('refuses %j with %i and a detail', async (body, status, detail) => {
    const r = await embeddings(body);
    expect(r.status).toBe(status);
    expect(Object.keys(r.body)).toEqual(['detail']);
    expect(r.body['detail']).toMatch(detail);
  });

  it('refuses a missing or wrong key (401), and the Anthropic key too', async () => {
    for (const key of [null, 'pa-wrong', KEY]) {
      const r = await embeddings({ input: 'x', model: 'voyage-3.5' }, key);
      expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { detail: 'Provided API key is invalid.' } });
    }
  });

  it('answers fault rules for its model as Voyage fails: 429 with retry-after, 503, 500; then serves again', async () => {
    const put = await fetch(`${base}/_fake/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { kind: 'rate_limit', model: 'voyage-3.5', times: 1, retryAfterSeconds: 3 },
        { kind: 'overloaded', model: 'voyage-3.5', times: 1 },
        { kind: 'api_error', model: 'voyage-3.5', times: 1 },
      ]),
    });
    expect(put.status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await embeddings({ input: 'x', model: 'voyage-3.5' });
      statuses.push(r.status);
      if (r.status === 429) expect(r.headers.get('retry-after')).toBe('3');
    }
    expect(statuses).toEqual([429, 503, 500, 200]);
  });
});
