// The configured model list, read from the one file that defines it (manifests/base/litellm-config.yaml).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from './kustomize.ts';

export interface ConfiguredModel {
  name: string;
  /** the Anthropic model id LiteLLM maps it to (without the anthropic/ prefix) */
  anthropicId: string;
}

interface ConfigEntry {
  model_name: string;
  litellm_params: { model: string };
  model_info?: { mode?: string };
}

function modelList(): ConfigEntry[] {
  return (parse(readFileSync(join(MANIFESTS_DIR, 'base/litellm-config.yaml'), 'utf8')) as { model_list: ConfigEntry[] }).model_list;
}

/** The chat models: what LiteLLM lists and Open WebUI offers (the embedding model is neither). */
export function configuredModels(): ConfiguredModel[] {
  return modelList()
    .filter((m) => m.model_info?.mode !== 'embedding')
    .map((m) => ({ name: m.model_name, anthropicId: m.litellm_params.model.replace(/^anthropic\//, '') }));
}

/** The embedding model(s) documents are embedded with: name (what Open WebUI asks for) and Voyage id. */
export function embeddingModels(): { name: string; voyageId: string }[] {
  return modelList()
    .filter((m) => m.model_info?.mode === 'embedding')
    .map((m) => ({ name: m.model_name, voyageId: m.litellm_params.model.replace(/^voyage\//, '') }));
}
