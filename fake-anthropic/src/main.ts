/**
 * Entrypoint of the fake Anthropic upstream (see server.ts).
 *
 * Env:
 *   FAKE_ANTHROPIC_API_KEY  required: the x-api-key accepted
 *   FAKE_ANTHROPIC_EXTRA_API_KEYS  optional, comma-separated: more keys accepted as well (a rotation's overlap)
 *   FAKE_VOYAGE_API_KEYS    optional, comma-separated: the Bearer keys POST /v1/embeddings (Voyage AI) accepts
 *   PORT                    default 8080
 *   TOKEN_DELAY_MS          default 30: pause before each streamed text_delta
 *   FAKE_ANTHROPIC_MODELS   optional, comma-separated allow-list of model ids (others: 404)
 *   MAX_BODY_BYTES          optional, default 10485760
 *
 * Logs one line per request to stdout; stops gracefully on SIGTERM/SIGINT.
 */
import { realpathSync } from 'node:fs';
import { createFakeAnthropic, type RequestLogEntry } from './server.ts';

export interface FakeAnthropicConfig {
  apiKey: string;
  extraApiKeys: string[];
  voyageApiKeys: string[];
  port: number;
  tokenDelayMs: number;
  models: string[] | undefined;
  maxBodyBytes: number | undefined;
}

export class ConfigError extends Error {}

function intFromEnv(env: Record<string, string | undefined>, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** The non-empty items of a comma-separated value. */
const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');

/** Reads the configuration from `env`; throws ConfigError with a readable message. */
export function parseConfig(env: Record<string, string | undefined>): FakeAnthropicConfig {
  const apiKey = env['FAKE_ANTHROPIC_API_KEY'];
  if (apiKey === undefined || apiKey.trim() === '') {
    throw new ConfigError('FAKE_ANTHROPIC_API_KEY is required (the x-api-key the fake accepts) but is unset or empty');
  }
  const modelsRaw = env['FAKE_ANTHROPIC_MODELS'];
  const models = modelsRaw === undefined || modelsRaw.trim() === '' ? undefined : list(modelsRaw);
  return {
    apiKey,
    extraApiKeys: list(env['FAKE_ANTHROPIC_EXTRA_API_KEYS'] ?? ''),
    voyageApiKeys: list(env['FAKE_VOYAGE_API_KEYS'] ?? ''),
    port: intFromEnv(env, 'PORT', 0, 65535) ?? 8080,
    tokenDelayMs: intFromEnv(env, 'TOKEN_DELAY_MS', 0, 60_000) ?? 30,
    models,
    maxBodyBytes: intFromEnv(env, 'MAX_BODY_BYTES', 1, 1024 * 1024 * 1024),
  };
}

function formatLog(e: RequestLogEntry): string {
  const parts = [new Date().toISOString(), e.method, e.path, String(e.status), `${e.durationMs}ms`, e.requestId];
  if (e.model !== undefined) parts.push(`model=${e.model}`);
  if (e.stream !== undefined) parts.push(`stream=${e.stream}`);
  if (e.errorType !== undefined) parts.push(`error=${e.errorType}`);
  if (e.aborted === true) parts.push('aborted');
  return parts.join(' ');
}

export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: FakeAnthropicConfig;
  try {
    config = parseConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`fake-anthropic: configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const fake = createFakeAnthropic({
    apiKey: config.apiKey,
    extraApiKeys: config.extraApiKeys,
    voyageApiKeys: config.voyageApiKeys,
    tokenDelayMs: config.tokenDelayMs,
    ...(config.models !== undefined ? { models: config.models } : {}),
    ...(config.maxBodyBytes !== undefined ? { maxBodyBytes: config.maxBodyBytes } : {}),
    onRequest: (entry) => console.log(formatLog(entry)),
  });
  await fake.listen(config.port);
  console.log(
    `fake-anthropic: listening on port ${fake.port} (token delay ${config.tokenDelayMs} ms, models: ${config.models?.join(',') ?? 'any'})`,
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`fake-anthropic: ${signal} received, draining`);
    fake.close(10_000).then(
      () => {
        console.log('fake-anthropic: stopped');
        process.exit(0);
      },
      (e: unknown) => {
        console.error('fake-anthropic: error while stopping:', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function isEntrypoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(import.meta.filename);
  } catch {
    return false;
  }
}

if (isEntrypoint()) {
  main().catch((e: unknown) => {
    console.error('fake-anthropic: fatal:', e);
    process.exit(1);
  });
}
