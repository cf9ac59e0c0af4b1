#!/usr/bin/env node
// npm run bench [-- --only up,forward,load] [--concurrency 1,10,50] [--seconds 20] [--suites]:
// measures and prints the figures docs/performance.md reports, instead of asserting them in timed tests.
// Targets: first dev:up to the first token <= 60 s, reused < 10 s (images already built).
//   up:      dev:up from nothing (no node) to the first streamed token through LiteLLM (building
//            the image store if these images have none), from nothing again (the node removed:
//            it starts from the store), then against the reused node; the node's memory
//   forward: the latency the port-forward adds, beside kubectl port-forward (dev/bench-forward.ts)
//   load:    streamed chats at each concurrency from a Locust Job in the cluster to the fake
//            upstream, LiteLLM and Open WebUI: TTFT and total time, req/s, errors, each hop's
//            overhead over the floor, each pod's CPU throttling and memory (dev/bench/load.ts)
//   --suites: the wall time of each test project (npm run test:<project>)
//   --litellm-metrics both: the load part twice on the same node, as the dev overlay runs (LiteLLM
//            counts nothing) and with components/monitoring's LiteLLM settings (it counts, and a
//            second process serves the metrics), to see what counting costs
import { intOption, listOption, parseCommand, UsageError } from '../lib/cli.ts';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { $ } from 'zx';
import { stringify } from 'yaml';
import OpenAI from 'openai';
import { docker } from '../lib/docker.ts';
import { secondsSince } from '../lib/time.ts';
import { benchForward, formatBenchForward } from './bench-forward.ts';
import { benchLoad, formatLoad } from './bench/load.ts';
import { removeNodes } from './lib/cluster.ts';
import { REPO_ROOT, localDir } from '../lib/kustomize.ts';
import { up, stackSecret, type Stack } from './lib/stack.ts';

const { values } = parseCommand(
  {
    command: 'npm run bench --',
    summary: 'Measures and prints the figures docs/performance.md reports (targets are measured here, never asserted in tests).',
    options: {
      only: { type: 'string', value: 'LIST', default: 'up,forward,load', help: 'the parts to run: up, forward, load' },
      concurrency: { type: 'string', value: 'LIST', default: '1,10,50', help: 'concurrent streams of the load part' },
      seconds: { type: 'string', value: 'N', default: '20', help: 'seconds per load run (at least 5)' },
      words: { type: 'string', value: 'N', default: '40', help: 'streamed tokens per reply, 1 to 60' },
      hops: { type: 'string', value: 'LIST', default: 'fake,litellm,openwebui', help: 'the hops the load part measures' },
      node: { type: 'string', value: 'NAME', default: 'bench', help: "the node's name (dev: a running dev:up's node, with --keep)" },
      keep: { type: 'boolean', help: 'leave the stack running afterwards' },
      suites: { type: 'boolean', help: 'also time each test project (npm run test:<project>)' },
      'litellm-metrics': {
        type: 'string',
        value: 'off|on|both',
        default: 'off',
        help: "LiteLLM's metrics during the load part: off (the dev overlay), on (components/monitoring's LiteLLM settings), both",
      },
    },
  },
  (v) => {
    intOption('words', v.words, 1, 60, 'a number of words (the fake echoes the prompt, one streamed token per word)');
    intOption('seconds', v.seconds, 5, 3600, 'a number of seconds');
    for (const p of listOption(v.only))
      if (!['up', 'forward', 'load'].includes(p)) throw new UsageError(`--only ${v.only}: expected a list of up, forward, load`);
    for (const c of listOption(v.concurrency)) intOption('concurrency', c, 1, 1000, 'a list of stream counts');
    if (!['off', 'on', 'both'].includes(v['litellm-metrics'] ?? 'off'))
      throw new UsageError(`--litellm-metrics ${v['litellm-metrics']}: expected off, on or both`);
  },
);
// --node dev --keep: measure the stack of a running dev:up (its manifests re-applied from this tree).
const NAME = values.node;
const words = Number(values.words);
const parts = new Set(listOption(values.only));
const concurrency = listOption(values.concurrency).map(Number);
const seconds = Number(values.seconds);
const TIERS = ['static', 'images', 'smoke', 'integration'];
const figures: [string, string][] = [];
let forwardTable = '';
const loadTables: [string, string][] = [];

/**
 * The dev overlay with components/monitoring's patch of LiteLLM (its metrics port and
 * multiprocess directory; the component's other objects need the Prometheus Operator's CRDs and
 * cost LiteLLM nothing), in a throwaway kustomization.
 */
function withLiteLLMMetrics(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chatstack-bench-'));
  const patch = readFileSync(join(REPO_ROOT, 'manifests/components/monitoring/litellm-deployment.yaml'), 'utf8');
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({ resources: [relative(dir, localDir('dev'))], patches: [{ patch }] }));
  return dir;
}

async function firstToken(litellmUrl: string): Promise<void> {
  const client = new OpenAI({
    baseURL: `${litellmUrl}/v1`,
    apiKey: stackSecret(localDir('dev'), 'litellm.env', 'LITELLM_MASTER_KEY'),
    maxRetries: 0,
  });
  const stream = await client.chat.completions.create({
    model: 'claude-sonnet-5-5',
    messages: [{ role: 'user', content: 'benchmark' }],
    stream: true,
  });
  for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) break;
  stream.controller.abort();
}

async function timedUp(label: string): Promise<Stack> {
  const t0 = Date.now();
  const stack = await up({ overlay: 'dev', reuse: true, clusterName: NAME, log: () => {} });
  await firstToken(stack.info.urls.litellm);
  figures.push([
    label,
    `${secondsSince(t0)} s (${Object.entries(stack.info.timings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  ]);
  return stack;
}

async function suite(tier: string): Promise<void> {
  const t0 = Date.now();
  const r = await $({ quiet: true, nothrow: true })`npm run ${`test:${tier}`} --silent`;
  figures.push([`npm run test:${tier}`, `${secondsSince(t0)} s (exit ${r.exitCode})`]);
}

try {
  let stack: Stack;
  if (parts.has('up')) {
    await removeNodes(NAME);
    // The first may build the image store (when these images have none yet), the second starts
    // a fresh node from it: that is every later first dev:up until an image is rebuilt.
    const first = await timedUp('dev:up from nothing to first streamed token');
    await first.stop();
    const fresh = await timedUp('dev:up from nothing again (node removed, image store kept)');
    await fresh.detach();
    stack = await timedUp('dev:up again (reused node) to first streamed token');
    figures.push([
      'node container memory with the dev stack',
      await docker('stats', '--no-stream', '--format', '{{.MemUsage}}', stack.info.clusterId!),
    ]);
  } else {
    stack = await up({ overlay: 'dev', reuse: true, clusterName: NAME, log: () => {} });
  }
  if (parts.has('forward')) {
    const masterKey = stackSecret(localDir('dev'), 'litellm.env', 'LITELLM_MASTER_KEY');
    forwardTable = formatBenchForward(
      await benchForward({ kubeconfig: stack.info.kubeconfig, namespace: stack.info.namespace, masterKey, log: () => {} }),
    );
  }
  if (parts.has('load')) {
    const metrics = values['litellm-metrics'] === 'both' ? ['off', 'on'] : [values['litellm-metrics']];
    for (const m of metrics) {
      if (m === 'on') {
        // The same node; LiteLLM rolls onto the monitoring component's settings.
        await stack.detach();
        stack = await up({
          overlay: 'dev',
          dir: withLiteLLMMetrics(),
          secretsDir: localDir('dev'),
          reuse: true,
          clusterName: NAME,
          log: () => {},
        });
      }
      const results = await benchLoad(stack, { concurrency, seconds, words, hops: values.hops.split(','), log: (l) => console.log(l) });
      loadTables.push([`LiteLLM metrics ${m}`, formatLoad(results)]);
    }
  }
  if (values.keep) await stack.detach();
  else await stack.stop();
  if (values.suites) for (const tier of TIERS) await suite(tier);
} finally {
  if (!values.keep) await removeNodes(NAME).catch(() => undefined);
}
console.log('\nfigure | value\n---|---');
for (const [k, v] of figures) console.log(`${k} | ${v}`);
if (forwardTable) console.log(`\nport-forward latency (ms)\n${forwardTable}`);
for (const [label, table] of loadTables)
  console.log(`\nstreamed chats under load, from inside the cluster (${seconds} s per run; ${label})\n${table}`);
process.exit(0);
