#!/usr/bin/env node
// npm run bench [-- --suites]: measures and prints the figures the README reports, instead of
// asserting them in timed tests. Targets: first dev:up < 90 s, reused < 15 s (images already
// built), smoke + integration < 5 min.
//   1. dev:up from nothing (no node) to the first streamed token through LiteLLM
//   2. dev:up again against the reused node, to the first streamed token
//   3. the node's memory with the stack running
//   4. the latency the port-forward adds, beside kubectl port-forward (dev/bench-forward.ts)
//   5. with --suites: the wall time of each test project (npm run test:<project>)
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { $ } from 'zx';
import OpenAI from 'openai';
import { docker } from '../images/factory/docker.ts';
import { secondsSince } from '../images/factory/time.ts';
import { benchForward, formatBenchForward } from './bench-forward.ts';
import { removeNodes } from './lib/cluster.ts';
import { overlayDir } from './lib/kustomize.ts';
import { up, stackSecret, type Stack } from './lib/stack.ts';

const { values } = parseArgs({ options: { suites: { type: 'boolean', default: false } } });
const NAME = 'bench';
const TIERS = ['static', 'images', 'smoke', 'integration'];
const figures: [string, string][] = [];
let forwardTable = '';

async function firstToken(litellmUrl: string): Promise<void> {
  const client = new OpenAI({ baseURL: `${litellmUrl}/v1`, apiKey: stackSecret(join(overlayDir('dev'), 'secrets'), 'litellm.env', 'LITELLM_MASTER_KEY'), maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'claude-sonnet-5-5', messages: [{ role: 'user', content: 'benchmark' }], stream: true });
  for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) break;
  stream.controller.abort();
}

async function timedUp(label: string): Promise<Stack> {
  const t0 = Date.now();
  const stack = await up({ overlay: 'dev', reuse: true, clusterName: NAME, log: () => {} });
  await firstToken(stack.info.urls.litellm);
  figures.push([label, `${secondsSince(t0)} s (${Object.entries(stack.info.timings).map(([k, v]) => `${k} ${v}`).join(', ')})`]);
  return stack;
}

async function suite(tier: string): Promise<void> {
  const t0 = Date.now();
  const r = await $({ quiet: true, nothrow: true })`npm run ${`test:${tier}`} --silent`;
  figures.push([`npm run test:${tier}`, `${secondsSince(t0)} s (exit ${r.exitCode})`]);
}

try {
  await removeNodes(NAME);
  const first = await timedUp('dev:up from nothing to first streamed token');
  await first.detach();
  const again = await timedUp('dev:up again (reused node) to first streamed token');
  figures.push(['node container memory with the dev stack', await docker('stats', '--no-stream', '--format', '{{.MemUsage}}', again.info.clusterId!)]);
  const masterKey = stackSecret(join(overlayDir('dev'), 'secrets'), 'litellm.env', 'LITELLM_MASTER_KEY');
  forwardTable = formatBenchForward(await benchForward({ kubeconfig: again.info.kubeconfig, namespace: again.info.namespace, masterKey, log: () => {} }));
  await again.stop();
  if (values.suites) for (const tier of TIERS) await suite(tier);
} finally {
  await removeNodes(NAME).catch(() => undefined);
}
console.log('\nfigure | value\n---|---');
for (const [k, v] of figures) console.log(`${k} | ${v}`);
if (forwardTable) console.log(`\nport-forward latency (ms)\n${forwardTable}`);
process.exit(0);
