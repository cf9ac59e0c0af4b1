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

export function configuredModels(): ConfiguredModel[] {
  const config = parse(readFileSync(join(MANIFESTS_DIR, 'base/litellm-config.yaml'), 'utf8')) as {
    model_list: { model_name: string; litellm_params: { model: string } }[];
  };
  return config.model_list.map((m) => ({ name: m.model_name, anthropicId: m.litellm_params.model.replace(/^anthropic\//, '') }));
}
