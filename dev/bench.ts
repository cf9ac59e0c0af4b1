#!/usr/bin/env node
// npm run bench [-- --suites]: measures and prints the figures the README reports, instead of
// asserting them in timed tests. Targets: first dev:up < 90 s, reused < 15 s (images already
// built), smoke + integration < 5 min.
//   1. dev:up from nothing (no node) to the first streamed token through LiteLLM
//   2. dev:up again against the reused node, to the first streamed token
//   3. the node's memory with the stack running
//   4. with --suites: the wall time of each test tier (npm run test:static|smoke|integration)
import { parseArgs } from 'node:util';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { up, overlaySecret } from './lib/stack.ts';
import { removeNodes } from './lib/cluster.ts';

const run = promisify(execFile);
const { values } = parseArgs({ options: { suites: { type: 'boolean', default: false } } });
const NAME = 'bench';
const figures: [string, string][] = [];
const quiet = () => {};

const removeNode = () => removeNodes(NAME);

async function firstToken(litellmUrl: string): Promise<void> {
  const client = new OpenAI({ baseURL: `${litellmUrl}/v1`, apiKey: overlaySecret('dev', 'litellm.env', 'LITELLM_MASTER_KEY'), maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'benchmark' }], stream: true });
  for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) break;
  stream.controller.abort();
}

async function timedUp(label: string): Promise<string> {
  const t0 = Date.now();
  const stack = await up({ overlay: 'dev', reuse: true, clusterName: NAME, log: quiet });
  await firstToken(stack.info.urls.litellm);
  const total = (Date.now() - t0) / 1000;
  figures.push([label, `${total.toFixed(1)} s (${Object.entries(stack.info.timings).map(([k, v]) => `${k} ${v}`).join(', ')})`]);
  await stack.close();
  return stack.info.clusterId!;
}

async function suite(tier: string): Promise<void> {
  const t0 = Date.now();
  const code = await new Promise<number>((resolve) => spawn('npm', ['run', `test:${tier}`, '--silent'], { stdio: 'ignore' }).on('close', (c) => resolve(c ?? 1)));
  figures.push([`npm run test:${tier}`, `${((Date.now() - t0) / 1000).toFixed(1)} s (exit ${code})`]);
}

try {
  await removeNode();
  const id = await timedUp('dev:up from nothing to first streamed token');
  await timedUp('dev:up again (reused node) to first streamed token');
  const mem = (await run('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', id])).stdout.trim();
  figures.push(['node container memory with the dev stack', mem]);
  await removeNode();
  if (values.suites) for (const tier of ['static', 'smoke', 'integration']) await suite(tier);
} finally {
  await removeNode().catch(() => undefined);
}
console.log('\nfigure | value\n---|---');
for (const [k, v] of figures) console.log(`${k} | ${v}`);
process.exit(0);
