// The configured model list: the harness's own reader (lib/models.ts), which the benchmark uses too.
export { configuredModels, type ConfiguredModel } from '../../lib/models.ts';
