#!/usr/bin/env node
// npm run dev:down [-- --keep-cluster]: stops a running dev:up's forwards and removes the k3s
// node with its volumes (or, with --keep-cluster, only the stack's namespace). Idempotent.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { removeNodes } from './lib/cluster.ts';
import { STATE_FILE, type StackInfo } from './lib/stack.ts';
import { kubeConfigFromFile } from './lib/kube.ts';

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

if (values['keep-cluster']) {
  if (state) {
    const kc = kubeConfigFromFile(state.kubeconfig);
    try {
      const core = kc.makeApiClient(k8s.CoreV1Api);
      await core.deleteNamespace({ name: state.namespace });
      // Wait until it is gone, so an immediate dev:up does not meet a terminating namespace.
      for (let i = 0; i < 120; i++) {
        const gone = await core.readNamespace({ name: state.namespace }).then(() => false, () => true);
        if (gone) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      removed.push(`namespace ${state.namespace}`);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }
} else {
  for (const id of await removeNodes('dev')) removed.push(`k3s node container ${id.slice(0, 12)} and its volumes`);
}
rmSync(STATE_FILE, { force: true });
console.log(removed.length ? `Removed: ${removed.join('; ')}.` : 'Nothing to remove: no dev stack is running.');
