#!/usr/bin/env node
// npm run dev:down [-- --keep-cluster] [--stores]: stops a running dev:up's forwards and removes
// the k3s node with its volumes (or, with --keep-cluster, only the stack's namespace). The image
// stores fresh nodes start from stay for the next dev:up; --stores removes those no node uses
// (their disk: about 2.6 GB for the dev stack's). Idempotent.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { removeNodes } from './lib/cluster.ts';
import { removeStores } from './lib/node-store.ts';
import { STATE_FILE, stopStack, type StackInfo } from './lib/stack.ts';

const { values } = parseArgs({ options: { 'keep-cluster': { type: 'boolean', default: false }, stores: { type: 'boolean', default: false } } });
const state = existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StackInfo & { pid?: number }) : undefined;
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
else if (!values['keep-cluster']) removed.push(...(await removeNodes('dev')).map((id) => `k3s node container ${id.slice(0, 12)} and its volumes`));
rmSync(STATE_FILE, { force: true });
if (values.stores) removed.push(...(await removeStores()).map((v) => `image store ${v}`));
console.log(removed.length ? `Removed: ${removed.join('; ')}.` : 'Nothing to remove: no dev stack is running.');
