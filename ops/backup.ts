#!/usr/bin/env node
// npm run backup -- --overlay NAME [--out DIR] [--kubeconfig FILE [--context NAME]]
// Writes one timestamped archive of Open WebUI's database (a consistent online copy) and uploads,
// with a manifest of versions and checksums, while the stack keeps running (ops/lib/backup.ts).
import { parseCommand } from '../lib/cli.ts';
import { resolve } from 'node:path';
import { backup } from './lib/backup.ts';
import { REPO_ROOT } from '../lib/kustomize.ts';
import { stackTarget } from '../lib/stack-target.ts';

const { values } = parseCommand({
  command: 'npm run backup --',
  summary:
    "Writes one archive of Open WebUI's database (a consistent online copy) and uploads, with a manifest\nof versions and checksums, while the stack keeps serving. The stack: a running dev:up's, or\n--kubeconfig's.",
  options: {
    overlay: { type: 'string', value: 'NAME', required: true, help: 'the overlay the stack was applied from (it names the namespace)' },
    out: { type: 'string', value: 'DIR', default: 'backups/', help: 'where the archive goes' },
    kubeconfig: { type: 'string', value: 'FILE', help: 'the cluster (default: the node of a running dev:up)' },
    context: { type: 'string', value: 'NAME', help: 'the context of --kubeconfig' },
  },
});
try {
  const target = await stackTarget({ overlay: values.overlay, kubeconfig: values.kubeconfig, context: values.context });
  console.log(`backup: ${target.namespace} on ${target.from}`);
  const r = await backup(target.kc, {
    namespace: target.namespace,
    overlay: values.overlay,
    outDir: resolve(REPO_ROOT, values.out),
    log: (l) => console.log(l),
  });
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const raw = r.manifest.files.reduce((n, f) => n + f.bytes, 0);
  console.log(
    `backup: ${r.file}\n  ${r.manifest.files.length} files, ${mib(raw)} (${mib(r.bytes)} gzipped), Open WebUI ${r.manifest.openWebui.version} schema ${r.manifest.openWebui.schemaRevision}, in ${r.seconds.toFixed(1)} s`,
  );
} catch (err) {
  console.error(`backup: ${(err as Error).message}`);
  process.exit(1);
}
