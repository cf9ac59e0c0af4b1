#!/usr/bin/env node
// npm run dev:up [-- --overlay dev] [--kubeconfig FILE [--context NAME]] [--port-webui 8080] [--port-litellm 4000]
// Boots (or reuses) a k3s node, applies the overlay, waits for it, and port-forwards Open WebUI
// and LiteLLM until interrupted. The same as JSON (no secrets) goes to .dev/stack.json.
import { parseArgs } from 'node:util';
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from './lib/kustomize.ts';
import { STATE_DIR, STATE_FILE, up } from './lib/stack.ts';

const { values } = parseArgs({
  options: {
    overlay: { type: 'string', default: 'dev' },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    'port-webui': { type: 'string', default: '8080' },
    'port-litellm': { type: 'string', default: '4000' },
  },
});

const port = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port number, not "${v}"`);
  return n;
};

try {
  const stack = await up({
    overlay: values.overlay!,
    kubeconfig: values.kubeconfig,
    context: values.context,
    ports: { openWebui: port('port-webui', values['port-webui']!), litellm: port('port-litellm', values['port-litellm']!) },
    reuse: true,
    clusterName: 'dev',
  });
  const { info } = stack;
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify({ ...info, pid: process.pid }, null, 2) + '\n');
  const rel = (p?: string) => (p ? relative(REPO_ROOT, p) : '(none)');
  console.log(`
Stack "${info.overlay}" is up in namespace ${info.namespace} (${info.timings['total']} s).
  Open WebUI  ${info.urls.openWebui}   admin: ${info.adminEmail ?? '(OIDC)'}  password in ${rel(info.credentials.admin)}
  LiteLLM     ${info.urls.litellm}/v1   master key in ${rel(info.credentials.litellm)} (LITELLM_MASTER_KEY)
  kubectl     KUBECONFIG=${rel(info.kubeconfig)} kubectl -n ${info.namespace} get pods
Forwarding until Ctrl-C; the cluster stays for the next dev:up. Remove it: npm run dev:down
(${rel(STATE_FILE)} has the same as JSON.)`);
  const stop = async () => {
    await stack.detach();
    rmSync(STATE_FILE, { force: true });
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`\ndev:up failed: ${(err as Error).message}`);
  process.exit(1);
}
