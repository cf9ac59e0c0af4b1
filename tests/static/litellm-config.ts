// The LiteLLM config as it ships in the rendered ConfigMap, checked against the model map
// bundled with the pinned LiteLLM release (tests/static/data, refreshed by `npm run model-map`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT, type KubeObject } from '../../lib/kustomize.ts';

export interface LiteLLMConfig {
  model_list: {
    model_name: string;
    litellm_params: { model: string; api_key?: string; api_base?: string };
    model_info?: { mode?: string };
  }[];
  litellm_settings?: { drop_params?: boolean; callbacks?: string | string[] };
  router_settings?: { num_retries?: number; timeout?: number; stream_timeout?: number; fallbacks?: Record<string, string[]>[] };
  general_settings?: { master_key?: string };
}
export interface ModelMap {
  litellmVersion: string;
  models: Record<string, { mode: string | null; deprecation_date: string | null; output_vector_size?: number | null }>;
}

/** The embedding models of a config (`model_info.mode: embedding`), which Open WebUI's documents use. */
export const embeddingModels = (config: LiteLLMConfig) => config.model_list.filter((m) => m.model_info?.mode === 'embedding');

export const modelMap = (): ModelMap =>
  JSON.parse(readFileSync(join(REPO_ROOT, 'tests/static/data/litellm-model-map.json'), 'utf8')) as ModelMap;

export function liteLLMConfig(objects: KubeObject[]): LiteLLMConfig {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('litellm-config'));
  const text = (cm?.['data'] as Record<string, string> | undefined)?.['config.yaml'];
  if (!text) throw new Error('no litellm-config ConfigMap with a config.yaml key in the render');
  return parse(text) as LiteLLMConfig;
}

/** How far ahead a configured model's deprecation date fails the check. */
export const DEPRECATION_NOTICE_DAYS = 90;

export function checkLiteLLMConfig(objects: KubeObject[], map: ModelMap = modelMap(), now: Date = new Date()): string[] {
  const v: string[] = [];
  const config = liteLLMConfig(objects);
  if (!Array.isArray(config.model_list) || config.model_list.length === 0) return ['model_list is empty'];
  const deprecation = (name: string, id: string, deprecated: string | null) => {
    const daysLeft = deprecated ? (Date.parse(`${deprecated}T00:00:00Z`) - now.getTime()) / 86_400_000 : Infinity;
    if (daysLeft <= DEPRECATION_NOTICE_DAYS) {
      const when = daysLeft < 0 ? `since ${deprecated}` : `from ${deprecated}, ${Math.ceil(daysLeft)} days away`;
      v.push(`${name}: ${id} is deprecated ${when} (the model map of LiteLLM ${map.litellmVersion}); move to a current model`);
    }
  };
  for (const m of config.model_list) {
    const id = m.litellm_params?.model ?? '';
    const [provider, ...rest] = id.split('/');
    if (m.model_info?.mode === 'embedding') {
      // The documents' embeddings: Voyage AI, its key and URL from the environment (the fake in dev).
      const known = map.models[id];
      if (provider !== 'voyage') v.push(`${m.model_name}: ${id} is not a voyage/ embedding model`);
      else if (!known || known.mode !== 'embedding')
        v.push(`${m.model_name}: ${id} is not an embedding model in the model map of LiteLLM ${map.litellmVersion}`);
      else deprecation(m.model_name, id, known.deprecation_date);
      if (m.litellm_params?.api_key !== 'os.environ/VOYAGE_API_KEY') v.push(`${m.model_name}: api_key must be os.environ/VOYAGE_API_KEY`);
      if (m.litellm_params?.api_base !== 'os.environ/VOYAGE_API_BASE')
        v.push(`${m.model_name}: api_base must be os.environ/VOYAGE_API_BASE (LiteLLM reads no other for voyage/ embeddings)`);
      continue;
    }
    if (provider !== 'anthropic') v.push(`${m.model_name}: ${id} is not an anthropic/ model`);
    else if (!map.models[rest.join('/')]) v.push(`${m.model_name}: ${id} is not in the model map of LiteLLM ${map.litellmVersion}`);
    else deprecation(m.model_name, id, map.models[rest.join('/')]!.deprecation_date);
    if (m.litellm_params?.api_key !== 'os.environ/ANTHROPIC_API_KEY')
      v.push(`${m.model_name}: api_key must be os.environ/ANTHROPIC_API_KEY`);
    if (m.litellm_params?.api_base) v.push(`${m.model_name}: api_base is set in the config (use ANTHROPIC_API_BASE per overlay)`);
  }
  if (config.litellm_settings?.drop_params !== true) v.push('litellm_settings.drop_params must be true');
  // Failure handling (integration tier: tests/integration/faults.test.ts): retries, bounded waits,
  // and a fallback for every model, to a model that exists.
  const router = config.router_settings ?? {};
  if (!(Number(router.num_retries) >= 1)) v.push('router_settings.num_retries must be at least 1 (429/529 are transient)');
  for (const key of ['timeout', 'stream_timeout'] as const)
    if (!(Number(router[key]) > 0)) v.push(`router_settings.${key} must be set (a stalled upstream must become an error, not a hang)`);
  const embedding = new Set(embeddingModels(config).map((m) => m.model_name));
  const names = new Set(config.model_list.map((m) => m.model_name).filter((n) => !embedding.has(n)));
  const fallbacks = new Map((router.fallbacks ?? []).flatMap((f) => Object.entries(f)));
  for (const name of names) if (!fallbacks.has(name)) v.push(`router_settings.fallbacks: ${name} has no fallback model`);
  for (const [from, to] of fallbacks) {
    // Another embedding model's vectors live in another space: a fallback would corrupt the index.
    for (const t of [from, ...to])
      if (embedding.has(t))
        v.push(`router_settings.fallbacks: ${t} is an embedding model, which must never fall back or be fallen back to`);
      else if (!names.has(t)) v.push(`router_settings.fallbacks: ${t} is not a configured model_name`);
  }
  const callbacks = [config.litellm_settings?.callbacks ?? []].flat();
  if (embedding.size > 0 && !callbacks.includes('model_listing.chat_models_only'))
    v.push(
      'litellm_settings.callbacks must include model_listing.chat_models_only (an embedding model in the chat picker could only fail)',
    );
  if (config.general_settings?.master_key !== 'os.environ/LITELLM_MASTER_KEY')
    v.push('general_settings.master_key must be os.environ/LITELLM_MASTER_KEY');
  return v;
}

/** The model table of docs/operations.md ("Models"), between its `models:start` and `models:end` markers. */
export function documentedModels(doc = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8')): { name: string; id: string }[] {
  const block = /<!-- models:start -->([\s\S]*?)<!-- models:end -->/.exec(doc)?.[1];
  if (!block) throw new Error('docs/operations.md has no <!-- models:start --> ... <!-- models:end --> table');
  return [...block.matchAll(/^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|/gm)].map((m) => ({ name: m[1]!, id: m[2]! }));
}
