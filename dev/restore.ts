#!/usr/bin/env node
// npm run restore -- --overlay NAME ARCHIVE [--kubeconfig FILE [--context NAME]]
// Puts a backup back: the archive is checked whole first (refused if wrong, truncated, tampered or
// from a newer Open WebUI), then Open WebUI is stopped, the data swapped in on its volume and the
// app started again; the previous data stays on the volume beside it (dev/lib/backup.ts).
import { parseArgs } from 'node:util';
import { restore } from './lib/backup.ts';
import { stackTarget } from './lib/stack-target.ts';

try {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { overlay: { type: 'string' }, kubeconfig: { type: 'string' }, context: { type: 'string' } } });
  if (!values.overlay || positionals.length !== 1) throw new Error('say which stack and which archive: npm run restore -- --overlay dev backups/chat-stack-dev-....tar.gz');
  const target = await stackTarget({ overlay: values.overlay, kubeconfig: values.kubeconfig, context: values.context });
  const r = await restore(target.kc, { namespace: target.namespace, archive: positionals[0]!, log: (l) => console.log(l) });
  console.log(`restore: done in ${r.seconds.toFixed(1)} s; the data it replaced is kept on the volume in ${r.kept}`);
} catch (err) {
  console.error(`restore: ${(err as Error).message}`);
  process.exit(1);
}
