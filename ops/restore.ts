#!/usr/bin/env node
// npm run restore -- --overlay NAME ARCHIVE [--kubeconfig FILE [--context NAME]]
// Puts a backup back: the archive is checked whole first (refused if wrong, truncated, tampered or
// from a newer Open WebUI), then Open WebUI is stopped, the data swapped in on its volume and the
// app started again; the previous data stays on the volume beside it (ops/lib/backup.ts).
import { parseCommand } from '../lib/cli.ts';
import { restore } from './lib/backup.ts';
import { stackTarget } from '../lib/stack-target.ts';

const { values, positionals } = parseCommand({
  command: 'npm run restore --',
  summary:
    'Puts a backup back: the archive is checked whole first, then Open WebUI is stopped, the data swapped\nin and the app started again; the data it replaced stays on the volume beside it.',
  positionals: ['ARCHIVE'],
  options: {
    overlay: { type: 'string', value: 'NAME', required: true, help: 'the overlay the stack was applied from (it names the namespace)' },
    kubeconfig: { type: 'string', value: 'FILE', help: 'the cluster (default: the node of a running dev:up)' },
    context: { type: 'string', value: 'NAME', help: 'the context of --kubeconfig' },
  },
});
try {
  const target = await stackTarget({ overlay: values.overlay, kubeconfig: values.kubeconfig, context: values.context });
  const r = await restore(target.kc, { namespace: target.namespace, archive: positionals[0]!, log: (l) => console.log(l) });
  console.log(`restore: done in ${r.seconds.toFixed(1)} s; the data it replaced is kept on the volume in ${r.kept}`);
  if (r.database === 'sqlite')
    console.log(
      'restore: document vectors (embedded Chroma) are not in a SQLite archive: re-index as an admin, POST /api/v1/knowledge/reindex (docs/operations.md, "Documents")',
    );
} catch (err) {
  console.error(`restore: ${(err as Error).message}`);
  process.exit(1);
}
