/**
 * Voyage AI's embeddings API (https://docs.voyageai.com/reference/embeddings-api), the embedding
 * provider Anthropic recommends, as the fake serves it beside the Messages API: the request as
 * Voyage validates it, the response in Voyage's shape, and vectors that are deterministic and
 * meaningful enough for retrieval tests. Each vector is hashed word features (words and word
 * pairs, lower-cased, each adding ±1 at a position of the model's dimension), L2-normalised: texts
 * that share words point the same way, texts that share none are near orthogonal.
 * Pure: no I/O; server.ts does the HTTP.
 */
import { createHash } from 'node:crypto';
import { isRecord } from './reply.ts';

interface VoyageModel {
  /** the dimension when `output_dimension` is not given */
  defaultDimension: number;
  /** the values `output_dimension` may take */
  dimensions: readonly number[];
  /** tokens of one input beyond which it is truncated (or refused with `truncation: false`) */
  contextTokens: number;
}

const FLEXIBLE = [256, 512, 1024, 2048] as const;

/** Voyage's text embedding models that LiteLLM 1.108.14's model map lists (1024 dimensions by default). */
export const VOYAGE_MODELS: Readonly<Record<string, VoyageModel>> = {
  'voyage-4-large': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-4': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-4-lite': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-code-4': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-3.5': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-3.5-lite': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-3-large': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-code-3': { defaultDimension: 1024, dimensions: FLEXIBLE, contextTokens: 32_000 },
  'voyage-finance-2': { defaultDimension: 1024, dimensions: [1024], contextTokens: 32_000 },
  'voyage-law-2': { defaultDimension: 1024, dimensions: [1024], contextTokens: 16_000 },
  'voyage-multilingual-2': { defaultDimension: 1024, dimensions: [1024], contextTokens: 32_000 },
};

/** At most this many inputs in one request (Voyage's documented limit). */
export const MAX_INPUTS = 1000;

/** A request Voyage would refuse: its status and the `detail` it answers with. */
export class VoyageError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface EmbeddingsRequest {
  inputs: string[];
  model: string;
  inputType: 'query' | 'document' | null;
  truncation: boolean;
  dimension: number;
  encoding: 'float' | 'base64';
}

/** Voyage counts tokens with its own tokenizer; the fake's estimate: a token per 4 characters, at least one per word. */
export function countTokens(text: string): number {
  const words = text.split(/\s+/).filter(Boolean).length;
  return Math.max(words, Math.ceil(text.length / 4));
}

/** Checks a request body as Voyage does; throws VoyageError(400) with its wording otherwise. */
export function validateEmbeddingsBody(body: unknown): EmbeddingsRequest {
  if (!isRecord(body)) throw new VoyageError(400, 'Request body must be a JSON object.');
  const { input, model, input_type, truncation, output_dimension, output_dtype, encoding_format } = body;
  if (typeof model !== 'string' || model === '') throw new VoyageError(400, "Field 'model' is required and must be a string.");
  const spec = VOYAGE_MODELS[model];
  if (!spec) throw new VoyageError(400, `Model ${model} is not supported. Supported models are ${Object.keys(VOYAGE_MODELS).join(', ')}.`);
  const inputs = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((i) => typeof i === 'string'))
    throw new VoyageError(400, "Field 'input' must be a string or a non-empty list of strings.");
  if (inputs.length > MAX_INPUTS) throw new VoyageError(400, `The batch size limit is ${MAX_INPUTS}. Your batch size is ${inputs.length}.`);
  if (inputs.some((i) => i === '')) throw new VoyageError(400, "Field 'input' must not contain empty strings.");
  if (input_type !== undefined && input_type !== null && input_type !== 'query' && input_type !== 'document')
    throw new VoyageError(400, "Field 'input_type' must be 'query', 'document' or null.");
  if (truncation !== undefined && typeof truncation !== 'boolean') throw new VoyageError(400, "Field 'truncation' must be a boolean.");
  const dimension = output_dimension ?? spec.defaultDimension;
  if (typeof dimension !== 'number' || !spec.dimensions.includes(dimension))
    throw new VoyageError(
      400,
      `Model ${model} supports output_dimension ${spec.dimensions.join(', ')}; got ${JSON.stringify(output_dimension)}.`,
    );
  // The quantised types (int8, binary, ...) are Voyage's too; the fake serves floats only and says so.
  if (output_dtype !== undefined && output_dtype !== null && output_dtype !== 'float')
    throw new VoyageError(400, `output_dtype ${JSON.stringify(output_dtype)} is not served by the fake upstream (float only).`);
  if (encoding_format !== undefined && encoding_format !== null && encoding_format !== 'base64')
    throw new VoyageError(400, "Field 'encoding_format' must be null or 'base64'.");
  if (truncation === false) {
    const long = inputs.findIndex((i) => countTokens(i) > spec.contextTokens);
    if (long >= 0) throw new VoyageError(400, `Input ${long} exceeds the context length of ${spec.contextTokens} tokens of ${model}.`);
  }
  return {
    inputs,
    model,
    inputType: (input_type as EmbeddingsRequest['inputType']) ?? null,
    truncation: truncation !== false,
    dimension,
    encoding: encoding_format === 'base64' ? 'base64' : 'float',
  };
}

/** The words of a text as the features see them: lower case, letters and digits. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** The text's vector: hashed word and word-pair features, L2-normalised (a zero vector only for a text without words). */
export function embed(text: string, dimension: number): number[] {
  const v = new Array<number>(dimension).fill(0);
  const w = words(text);
  const features = [...w, ...w.slice(1).map((x, i) => `${w[i]} ${x}`)];
  for (const f of features) {
    const h = createHash('sha256').update(f).digest();
    const at = h.readUInt32LE(0) % dimension;
    v[at]! += (h[4]! & 1) === 0 ? 1 : -1;
  }
  const norm = Math.hypot(...v);
  return norm === 0 ? v : v.map((x) => x / norm);
}

/** Cosine similarity of two vectors of one dimension. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Voyage's response body for a valid request. */
export function embeddingsResponse(req: EmbeddingsRequest): Record<string, unknown> {
  const data = req.inputs.map((text, index) => {
    const vector = embed(text, req.dimension);
    const embedding = req.encoding === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', embedding, index };
  });
  return {
    object: 'list',
    data,
    model: req.model,
    usage: { total_tokens: req.inputs.reduce((n, t) => n + countTokens(t), 0) },
  };
}
