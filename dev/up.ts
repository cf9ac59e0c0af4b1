#!/usr/bin/env node
// npm run dev:up [-- --overlay dev] [--kubeconfig FILE [--context NAME]] [--port-webui 8080] [--port-litellm 4000]
// Boots (or reuses) a k3s node, applies the overlay, waits for it, and port-forwards Open WebUI
// and LiteLLM until interrupted. The same as JSON (no secrets) goes to .dev/stack.json.
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from '../lib/kustomize.ts';
import { intOption, parseCommand } from '../lib/cli.ts';
import { up } from './lib/stack.ts';
import { STATE_DIR, STATE_FILE } from '../lib/stack-record.ts';

const spec = {
  command: 'npm run dev:up --',
  summary:
    'Boots (or reuses) a k3s node in Docker, applies the overlay, waits for every pod and port-forwards\nOpen WebUI and LiteLLM until Ctrl-C. With --kubeconfig it applies to that cluster instead.',
  options: {
    overlay: { type: 'string', value: 'NAME', default: 'dev', help: 'the overlay under manifests/overlays to apply' },
    kubeconfig: { type: 'string', value: 'FILE', help: 'apply to this existing cluster instead of a throwaway node' },
    context: { type: 'string', value: 'NAME', help: 'the context of --kubeconfig to use' },
    'port-webui': { type: 'string', value: 'PORT', default: '8080', help: 'local port for Open WebUI (0: any free port)' },
    'port-litellm': { type: 'string', value: 'PORT', default: '4000', help: 'local port for LiteLLM (0: any free port)' },
  },
} as const;
let ports = { openWebui: 0, litellm: 0 };
const { values } = parseCommand(spec, (v) => {
  ports = {
    openWebui: intOption('port-webui', v['port-webui'], 0, 65535, 'a port'),
    litellm: intOption('port-litellm', v['port-litellm'], 0, 65535, 'a port'),
  };
});

try {
  const stack = await up({
    overlay: values.overlay,
    kubeconfig: values.kubeconfig,
    context: values.context,
    ports,
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
