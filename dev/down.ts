#!/usr/bin/env node
// npm run dev:down [-- --keep-cluster]: stops a running dev:up's forwards and removes the k3s
// node with its volumes (or, with --keep-cluster, only the stack's namespace). Idempotent.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { removeNodes } from './lib/cluster.ts';
import { STATE_FILE, stopStack, type StackInfo } from './lib/stack.ts';

const { values } = parseArgs({ options: { 'keep-cluster': { type: 'boolean', default: false } } });
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
console.log(removed.length ? `Removed: ${removed.join('; ')}.` : 'Nothing to remove: no dev stack is running.');
