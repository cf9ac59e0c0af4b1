// The configured model list: the harness's own reader (dev/lib/models.ts), which the benchmark uses too.
export { configuredModels, type ConfiguredModel } from '../../dev/lib/models.ts';
