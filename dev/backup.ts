#!/usr/bin/env node
// npm run backup -- --overlay NAME [--out DIR] [--kubeconfig FILE [--context NAME]]
// Writes one timestamped archive of Open WebUI's database (a consistent online copy) and uploads,
// with a manifest of versions and checksums, while the stack keeps running (dev/lib/backup.ts).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { backup } from './lib/backup.ts';
import { REPO_ROOT } from './lib/kustomize.ts';
import { stackTarget } from './lib/stack-target.ts';

try {
  const { values } = parseArgs({ options: { overlay: { type: 'string' }, out: { type: 'string' }, kubeconfig: { type: 'string' }, context: { type: 'string' } } });
  if (!values.overlay) throw new Error('say which stack: npm run backup -- --overlay dev [--out DIR] [--kubeconfig FILE]');
  const target = await stackTarget({ overlay: values.overlay, kubeconfig: values.kubeconfig, context: values.context });
  console.log(`backup: ${target.namespace} on ${target.from}`);
  const r = await backup(target.kc, { namespace: target.namespace, overlay: values.overlay, outDir: resolve(values.out ?? `${REPO_ROOT}/backups`), log: (l) => console.log(l) });
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const raw = r.manifest.files.reduce((n, f) => n + f.bytes, 0);
  console.log(`backup: ${r.file}\n  ${r.manifest.files.length} files, ${mib(raw)} (${mib(r.bytes)} gzipped), Open WebUI ${r.manifest.openWebui.version} schema ${r.manifest.openWebui.schemaRevision}, in ${r.seconds.toFixed(1)} s`);
} catch (err) {
  console.error(`backup: ${(err as Error).message}`);
  process.exit(1);
}
