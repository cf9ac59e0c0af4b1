#!/usr/bin/env node
// node dev/bench-forward.ts [--small 60] [--streams 12] [--stack .dev/stack.json] (also part of npm run bench)
// The latency the port-forward adds, ours (lib/kube/port-forward.ts) beside `kubectl
// port-forward`, measured in the same run against a running stack (`npm run dev:up` writes
// .dev/stack.json): one small request (on a new connection, and on a kept-alive one) and one
// streamed chat through LiteLLM (first token, whole stream). The in-cluster column is the same
// request made from inside the Open WebUI pod (Open WebUI on its loopback, LiteLLM by its Service:
// no forward at all), so "added" is forward minus in-cluster.
// Figures are printed, never asserted.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { intOption, parseCommand } from '../lib/cli.ts';
import { kubeConfigFromFile } from '../lib/kube/config.ts';
import { execIn, podOf } from '../lib/kube/pod.ts';
import { REPO_ROOT } from '../lib/kustomize.ts';
import { forwardService, type Forward } from '../lib/kube/port-forward.ts';
import { parseEnv } from '../lib/secrets.ts';
const MODEL = 'claude-sonnet-5-5';

export interface BenchForwardOptions {
  kubeconfig: string;
  context?: string;
  namespace: string;
  /** LiteLLM's master key (for the streamed chat). */
  masterKey: string;
  /** Small requests per path and kind of connection (after 5 warm-ups). Default 60. */
  small?: number;
  /** Streamed chats per path (after 2 warm-ups). Default 12. */
  streams?: number;
  log?: (line: string) => void;
}

export interface Stats {
  n: number;
  p50: number;
  p95: number;
}

export type Path = 'in-cluster' | 'ours' | 'kubectl';
export type Case = 'small, new connection' | 'small, kept-alive connection' | 'streamed chat, first token' | 'streamed chat, complete';
export type BenchForwardResult = Record<Case, Partial<Record<Path, Stats>>>;

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, p50: round(at(0.5)), p95: round(at(0.95)) };
}
const round = (x: number) => Math.round(x * 10) / 10;
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** One GET; resolves with the time to the end of the body. */
function timedGet(port: number, path: string, agent: http.Agent | false): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(now() - t0) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 30 s`)));
    req.on('error', reject);
  });
}

/** One streamed chat through LiteLLM on a new connection: time to the first token and to the end. */
function timedChat(port: number, key: string): Promise<{ first: number; total: number }> {
  const body = JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'benchmark the forward' }] });
  return new Promise((resolve, reject) => {
    const t0 = now();
    let first = 0;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent: false,
        timeout: 60_000,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`chat: HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (!first && /"content":"[^"]/.test(chunk)) first = now() - t0;
        });
        res.on('end', () => resolve({ first, total: now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('chat: no answer in 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The same measurements from inside the Open WebUI pod, with Python's standard library. */
const IN_POD = String.raw`
import http.client, json, sys, time
small, streams, key, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ms = lambda t0: (time.perf_counter() - t0) * 1000
def get(conn, path):
    t0 = time.perf_counter(); conn.request("GET", path); r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
    return ms(t0)
out = {"new": [], "kept": [], "first": [], "total": []}
for i in range(small + 5):
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30); t = get(c, "/health"); c.close()
    if i >= 5: out["new"].append(t)
c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
for i in range(small + 5):
    t = get(c, "/health")
    if i >= 5: out["kept"].append(t)
c.close()
body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "benchmark the forward"}]})
for i in range(streams + 2):
    c = http.client.HTTPConnection("litellm", 4000, timeout=60)
    t0 = time.perf_counter(); first = None
    c.request("POST", "/v1/chat/completions", body, {"authorization": "Bearer " + key, "content-type": "application/json"})
    r = c.getresponse()
    while True:
        line = r.readline()
        if not line: break
        if first is None and b'"content":"' in line and b'"content":""' not in line: first = ms(t0)
    total = ms(t0); c.close()
    if i >= 2: out["first"].append(first); out["total"].append(total)
print(json.dumps(out))
`;

/** `kubectl port-forward svc/NAME :PORT`; resolves with the local port once it listens. */
function kubectlForward(opts: BenchForwardOptions, service: string, port: number): Promise<{ port: number; child: ChildProcess }> {
  const args = [
    '--kubeconfig',
    opts.kubeconfig,
    ...(opts.context ? ['--context', opts.context] : []),
    '-n',
    opts.namespace,
    'port-forward',
    `svc/${service}`,
    `:${port}`,
  ];
  const child = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kubectl ${args.join(' ')}: not forwarding after 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => reject(new Error(`kubectl port-forward: ${e.message} (is kubectl installed?)`)));
    child.on('exit', (code) => reject(new Error(`kubectl port-forward exited (${code}): ${out}`)));
  });
}

export async function benchForward(opts: BenchForwardOptions): Promise<BenchForwardResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const small = opts.small ?? 60;
  const streams = opts.streams ?? 12;
  const kc = kubeConfigFromFile(opts.kubeconfig, opts.context);

  const result = {} as BenchForwardResult;
  const put = (c: Case, p: Path, ms: number[]) => ((result[c] ??= {})[p] = stats(ms));

  const ours: Forward[] = [];
  const kubectl: ChildProcess[] = [];
  try {
    const oursWebui = await forwardService(kc, opts.namespace, 'open-webui', { log });
    const oursLitellm = await forwardService(kc, opts.namespace, 'litellm', { log });
    ours.push(oursWebui, oursLitellm);
    const kWebui = await kubectlForward(opts, 'open-webui', 8080);
    const kLitellm = await kubectlForward(opts, 'litellm', 4000);
    kubectl.push(kWebui.child, kLitellm.child);
    const paths: [Path, number, number][] = [
      ['ours', oursWebui.localPort, oursLitellm.localPort],
      ['kubectl', kWebui.port, kLitellm.port],
    ];

    // Interleaved per round so that both paths see the same load on the machine.
    const samples: Record<string, number[]> = {};
    const add = (k: string, v: number, warm: boolean) => !warm && (samples[k] ??= []).push(v);
    const agents = new Map(paths.map(([p]) => [p, new http.Agent({ keepAlive: true, maxSockets: 1 })]));
    log(
      `bench-forward: ${small} small requests per path and connection kind, ${streams} streamed chats (Open WebUI /health, LiteLLM ${MODEL})`,
    );
    for (let i = 0; i < small + 5; i++) {
      for (const [p, webui] of paths) {
        add(`${p}/new`, await timedGet(webui, '/health', false), i < 5);
        add(`${p}/kept`, await timedGet(webui, '/health', agents.get(p)!), i < 5);
      }
    }
    for (const a of agents.values()) a.destroy();
    for (let i = 0; i < streams + 2; i++) {
      for (const [p, , litellm] of paths) {
        const r = await timedChat(litellm, opts.masterKey);
        add(`${p}/first`, r.first, i < 2);
        add(`${p}/total`, r.total, i < 2);
      }
    }
    for (const [p] of paths) {
      put('small, new connection', p, samples[`${p}/new`]!);
      put('small, kept-alive connection', p, samples[`${p}/kept`]!);
      put('streamed chat, first token', p, samples[`${p}/first`]!);
      put('streamed chat, complete', p, samples[`${p}/total`]!);
    }

    log('bench-forward: the same from inside the Open WebUI pod (no forward)');
    const pod = (await podOf(kc, opts.namespace, 'open-webui')).metadata!.name!;
    const run = await execIn(
      kc,
      opts.namespace,
      pod,
      'open-webui',
      ['python3', '-c', IN_POD, String(small), String(streams), opts.masterKey, MODEL],
      600_000,
    );
    if (run.code !== 0) throw new Error(`in-pod run failed (exit ${run.code}): ${run.stderr}`);
    const inPod = JSON.parse(run.stdout) as Record<string, number[]>;
    put('small, new connection', 'in-cluster', inPod['new']!);
    put('small, kept-alive connection', 'in-cluster', inPod['kept']!);
    put('streamed chat, first token', 'in-cluster', inPod['first']!);
    put('streamed chat, complete', 'in-cluster', inPod['total']!);
  } finally {
    for (const c of kubectl) c.kill();
    await Promise.all(ours.map((f) => f.close()));
  }
  return result;
}

export function formatBenchForward(r: BenchForwardResult): string {
  const cell = (s?: Stats) => (s ? `${s.p50} / ${s.p95}` : '-');
  const added = (s?: Stats, base?: Stats) => (s && base ? `${s.p50 >= base.p50 ? '+' : ''}${round(s.p50 - base.p50)}` : '-');
  const rows: string[][] = [
    ['case (ms, p50 / p95)', 'in-cluster', 'ours', 'kubectl port-forward', 'added p50: ours', 'added p50: kubectl'],
  ];
  for (const [c, byPath] of Object.entries(r) as [Case, Partial<Record<Path, Stats>>][]) {
    const base = byPath['in-cluster'];
    rows.push([c, cell(base), cell(byPath.ours), cell(byPath.kubectl), added(byPath.ours, base), added(byPath.kubectl, base)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((v, i) => v.padEnd(widths[i]!)).join('  ')).join('\n');
}

function envValue(file: string, key: string): string {
  const value = parseEnv(readFileSync(file, 'utf8')).get(key);
  if (!value) throw new Error(`${file} has no ${key} (run npm run secrets)`);
  return value;
}

if (import.meta.main) {
  const { values } = parseCommand(
    {
      command: 'node dev/bench-forward.ts',
      summary: 'The latency the port-forward adds (ours beside kubectl port-forward), against a running dev:up.',
      options: {
        stack: {
          type: 'string',
          value: 'FILE',
          default: join(REPO_ROOT, '.dev/stack.json'),
          help: "the stack's record, as dev:up writes it",
        },
        small: { type: 'string', value: 'N', default: '60', help: 'small requests per path' },
        streams: { type: 'string', value: 'N', default: '12', help: 'streamed chats per path' },
      },
    },
    (v) => {
      intOption('small', v.small, 1, 10_000);
      intOption('streams', v.streams, 1, 1000);
    },
  );
  try {
    let info: { namespace: string; kubeconfig: string; credentials: { litellm: string } };
    try {
      info = JSON.parse(readFileSync(values.stack!, 'utf8')) as typeof info;
    } catch {
      throw new Error(`no running stack: ${values.stack} is missing (start one with npm run dev:up, or pass --stack FILE)`);
    }
    const result = await benchForward({
      kubeconfig: info.kubeconfig,
      namespace: info.namespace,
      masterKey: envValue(info.credentials.litellm, 'LITELLM_MASTER_KEY'),
      small: Number(values.small),
      streams: Number(values.streams),
    });
    console.log(`\n${formatBenchForward(result)}`);
  } catch (err) {
    console.error(`bench-forward failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
