#!/usr/bin/env node
// npm run dev:down [-- --keep-cluster] [--stores]: stops a running dev:up's forwards and removes
// the k3s node with its volumes (or, with --keep-cluster, only the stack's namespace). The image
// stores fresh nodes start from stay for the next dev:up; --stores removes those no node uses
// (their disk: about 2.6 GB for the dev stack's). Idempotent.
import { rmSync } from 'node:fs';
import { removeNodes } from './lib/cluster.ts';
import { removeStores } from './lib/node-store.ts';
import { stopStack, type StackInfo } from './lib/stack.ts';
import { STATE_FILE, readStackRecord } from '../lib/stack-record.ts';
import { parseCommand } from '../lib/cli.ts';

const { values } = parseCommand({
  command: 'npm run dev:down --',
  summary: "Stops a running dev:up's forwards and removes its k3s node with its volumes. Idempotent.",
  options: {
    'keep-cluster': { type: 'boolean', help: "remove only the stack's namespace, keep the node" },
    stores: { type: 'boolean', help: 'also remove the image stores no node uses (about 2.6 GB each)' },
  },
});
const state = readStackRecord<StackInfo>();
const removed: string[] = [];

if (state?.pid && state.pid !== process.pid) {
  try {
    process.kill(state.pid, 'SIGTERM');
    removed.push(`forwards of dev:up (pid ${state.pid})`);
  } catch {
    // already gone
  }
}
if (state) removed.push(...(await stopStack(state, { keepCluster: values['keep-cluster'] })));
// A dev:up that died before writing its state may still have left its node.
else if (!values['keep-cluster'])
  removed.push(...(await removeNodes('dev')).map((id) => `k3s node container ${id.slice(0, 12)} and its volumes`));
rmSync(STATE_FILE, { force: true });
if (values.stores) removed.push(...(await removeStores()).map((v) => `image store ${v}`));
console.log(removed.length ? `Removed: ${removed.join('; ')}.` : 'Nothing to remove: no dev stack is running.');
