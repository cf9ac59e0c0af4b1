// The port-forward itself (lib/kube/port-forward.ts), against the real pods of the stack: its own
// forwards to the stack's Services, plain sockets and HTTP, no mocks. Every close, reset or error
// must reach the other side: a connection the pod closed and the client still holds is a hang.
// Timings are never asserted; bounded waits only turn a hang into a failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';
import { execIn, readyPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';
import { admin, kc, masterKey, secret, stack } from '../support/live.ts';
import { signIn } from '../support/open-webui.ts';

const core = kc.makeApiClient(k8s.CoreV1Api);
/** Longer than uvicorn's default 5 s keep-alive timeout, which LiteLLM's manifest raises to 120 s. */
const PAST_UVICORN_DEFAULT_MS = 7_000;
/** How long a request may go unanswered before the test calls it a hang. */
const HANG_MS = 20_000;

// ---- a minimal HTTP/1.1 client on one socket: what the connection did is the point, so nothing
// (no agent, no retry) may hide a close or a hang.

type Outcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: Buffer }
  | { kind: 'closed' } // FIN before a response
  | { kind: 'reset'; code: string }
  | { kind: 'no answer' };

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  used: number;
}

/** A complete response at the start of `buf`, or null while incomplete. */
function parseResponse(buf: Buffer, ended: boolean): Parsed | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let at = headEnd + 4;
  if (headers['transfer-encoding']?.includes('chunked')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return null;
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (buf.length < eol + 2 + size + 2) return null;
      if (size === 0) return { status, headers, body: Buffer.concat(parts), used: eol + 4 };
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return buf.length >= at + n ? { status, headers, body: buf.subarray(at, at + n), used: at + n } : null;
  }
  return ended ? { status, headers, body: buf.subarray(at), used: buf.length } : null;
}

class Conn {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  /** Everything received and not yet parsed as a response. */
  get received(): Buffer {
    return this.buf;
  }
  /** The server's FIN arrived. */
  ended = false;
  resetCode: string | undefined;
  private wake: () => void = () => undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.resetCode = e.code ?? e.message;
      this.wake();
    });
    socket.on('close', () => this.wake());
  }

  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.once('connect', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.ended || this.resetCode !== undefined || this.socket.destroyed;
  }

  /** Waits for the next response (or a close, a reset, or nothing within `ms`). */
  async next(ms = HANG_MS): Promise<Outcome> {
    const deadline = Date.now() + ms;
    for (;;) {
      const p = parseResponse(this.buf, this.ended);
      if (p) {
        this.buf = this.buf.subarray(p.used);
        return { kind: 'response', status: p.status, headers: p.headers, body: p.body };
      }
      if (this.resetCode !== undefined) return { kind: 'reset', code: this.resetCode };
      if (this.ended || this.socket.destroyed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'no answer' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  send(method: string, path: string, headers: Record<string, string> = {}, body?: string): void {
    const head = [`${method} ${path} HTTP/1.1`, 'host: localhost', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    if (body !== undefined) head.push(`content-length: ${Buffer.byteLength(body)}`);
    this.socket.write(`${head.join('\r\n')}\r\n\r\n${body ?? ''}`);
  }

  request(method: string, path: string, headers: Record<string, string> = {}, ms = HANG_MS): Promise<Outcome> {
    this.send(method, path, headers);
    return this.next(ms);
  }

  /** Waits until the server closes the connection (true) or `ms` pass (false). */
  async waitClosed(ms = HANG_MS): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await sleep(100);
    return this.closed;
  }
}

const status = (o: Outcome) => (o.kind === 'response' ? o.status : o.kind);

// ---- counting connections from outside the forward

const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '08': 'CLOSE_WAIT' };

/**
 * Open TCP sockets of this network namespace whose local port is `port`, i.e. the forward's
 * accepted connections, as "STATE from :PORT": ESTABLISHED ones, and CLOSE_WAIT ones (the client
 * has closed, the forward has not).
 */
function localSocketsAt(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || !TCP_STATES[f[3]!]) continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) === port) found.push(`${TCP_STATES[f[3]!]} from :${parseInt(f[2]!.split(':')[1]!, 16)}`);
    }
  }
  return found;
}

async function exec(pod: k8s.V1Pod, command: string[]): Promise<string> {
  const name = pod.metadata!.name!;
  const r = await execIn(kc, stack.namespace, name, pod.spec!.containers[0]!.name, command, 60_000);
  if (r.code !== 0) throw new Error(`exec ${command[0]} in ${name}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Connections the pod accepted on `port` from the loopback address, i.e. the pod ends of
 * port-forward tunnels (kubelet probes and other pods come from the pod network instead).
 */
async function tunnelEndsInPod(pod: k8s.V1Pod, port: number): Promise<number> {
  const script = 'for f in ("/proc/net/tcp","/proc/net/tcp6"):\n' + '    print(open(f).read())';
  const js = 'for (const f of ["/proc/net/tcp","/proc/net/tcp6"]) console.log(require("fs").readFileSync(f,"utf8"))';
  const app = pod.metadata?.labels?.['app.kubernetes.io/name'];
  const text = await exec(pod, app === 'fake-anthropic' ? ['node', '-e', js] : ['python3', '-c', script]);
  const loopback = /^(0100007F|0000000000000000FFFF00000100007F|00000000000000000000000001000000):/;
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+:$/.test(f[0]!)) continue;
    const localPort = parseInt(f[1]!.split(':')[1]!, 16);
    if (localPort === port && f[3] === '01' && loopback.test(f[2]!)) n++;
  }
  return n;
}

/** The one ready pod of an app (the dev overlay runs one replica each; app name = Service name). */
async function readyPodOf(app: string): Promise<k8s.V1Pod> {
  const ready = await readyPods(kc, stack.namespace, app);
  if (ready.length !== 1) throw new Error(`expected one ready ${app} pod, found ${ready.length}`);
  return ready[0]!;
}

/** Polls `probe` every 500 ms until it returns a value; `seen` says what was last seen, for the failure. */
const until = <T>(what: string, ms: number, probe: () => Promise<T | undefined>, seen?: () => unknown): Promise<T> =>
  waitUntil(what, probe, { timeoutMs: ms, intervalMs: 500, describe: seen && (async () => `last seen ${JSON.stringify(seen())}`) });

/** One request on a fresh connection (no agent, no keep-alive): status, whole body, its hash. */
function call(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Buffer; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) };
    const req = http.request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: false, headers, timeout: 60_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const body = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, body, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${path}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Headers for the fake upstream's Messages API (its key is LiteLLM's ANTHROPIC_API_KEY). */
function fakeHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'x-api-key': secret('litellm.env', 'ANTHROPIC_API_KEY'),
    'anthropic-version': '2023-06-01',
    'content-type': 'application/json',
    ...extra,
  };
}

/** A streamed Messages request whose reply is about `words` tokens (the fake echoes the prompt). */
function streamBody(words: number): string {
  const prompt = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  return JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: prompt }] });
}

describe('port-forward (lib/kube/port-forward.ts) against the live pods', { timeout: 180_000 }, () => {
  const forwards: Record<'webui' | 'litellm' | 'fake', Forward> = {} as never;
  const logs: string[] = [];

  beforeAll(async () => {
    const log = (l: string) => logs.push(l);
    forwards.webui = await forwardService(kc, stack.namespace, 'open-webui', { log });
    forwards.litellm = await forwardService(kc, stack.namespace, 'litellm', { log });
    forwards.fake = await forwardService(kc, stack.namespace, 'fake-anthropic', { log });
  });
  afterAll(async () => {
    await Promise.all(Object.values(forwards).map((f) => f.close()));
    if (logs.length) console.log(`port-forward log lines:\n  ${logs.join('\n  ')}`);
  });

  it("a kept-alive connection outlasts an idle gap past uvicorn's 5 s default (KEEPALIVE_TIMEOUT), and a close by the server reaches the client", async () => {
    // LiteLLM keeps idle connections 120 s (its manifest's KEEPALIVE_TIMEOUT), as Open WebUI does
    // (UVICORN_TIMEOUT_KEEP_ALIVE) and the fake's Node server 75 s: a client's pool (Open WebUI's
    // aiohttp keeps 15 s) or a proxy (Traefik 90 s) closes first, never the server under a request.
    const { localPort } = forwards.litellm;
    const idle = await Conn.open(localPort);
    expect(status(await idle.request('GET', '/health/liveliness'))).toBe(200);
    await sleep(PAST_UVICORN_DEFAULT_MS);
    expect(idle.closed, 'LiteLLM closed an idle connection within 7 s: KEEPALIVE_TIMEOUT not in effect').toBe(false);
    expect(status(await idle.request('GET', '/health/liveliness'))).toBe(200);
    idle.socket.end();

    // The server's close (here asked for with Connection: close) reaches the client as a FIN, no
    // reset, at most about a second later (containerd releases the pod's end after a 1 s grace).
    // The old forward never passed a server's close on, and a request sent then went unanswered.
    const closing = await Conn.open(localPort);
    expect(status(await closing.request('GET', '/health/liveliness', { Connection: 'close' }))).toBe(200);
    expect(closing.closed || (await closing.waitClosed(5_000)), 'the server closed; the client never saw it').toBe(true);
    expect(closing.ended).toBe(true);
    expect(closing.resetCode).toBeUndefined();
    closing.socket.destroy();
    // and a new connection is answered
    const fresh = await Conn.open(localPort);
    expect(status(await fresh.request('GET', '/health/liveliness'))).toBe(200);
    fresh.socket.destroy();
  });

  it('a client that half-closes after its request still gets the whole response, then the close', async () => {
    // Open WebUI: a small response.
    const conn = await Conn.open(forwards.webui.localPort);
    conn.send('GET', '/health');
    conn.socket.end(); // FIN: nothing more to send, still reading
    const res = await conn.next();
    expect(status(res)).toBe(200);
    expect(res.kind === 'response' && JSON.parse(res.body.toString('utf8'))).toMatchObject({ status: true });
    expect(await conn.waitClosed()).toBe(true);
    expect(conn.resetCode).toBeUndefined();

    // The fake upstream: a stream that keeps coming for seconds after the FIN (60 tokens, 40 ms apart).
    const stream = await Conn.open(forwards.fake.localPort);
    stream.send('POST', '/v1/messages', fakeHeaders({ connection: 'close' }), streamBody(60));
    stream.socket.end();
    const sse = await stream.next(HANG_MS);
    expect(status(sse)).toBe(200);
    const text = sse.kind === 'response' ? sse.body.toString('utf8') : '';
    expect(text.match(/event: content_block_delta/g)?.length).toBeGreaterThanOrEqual(60);
    expect(text).toContain('event: message_stop');
    expect(await stream.waitClosed()).toBe(true);
    expect(stream.resetCode).toBeUndefined();
  });

  it('50 concurrent connections with small and multi-megabyte responses deliver every byte', async () => {
    const { localPort } = forwards.webui;
    // The reference: the built frontend's files as they are on the pod's disk.
    const listing = await exec(await readyPodOf('open-webui'), [
      'python3',
      '-c',
      [
        'import hashlib, os',
        'root = "/app/build"',
        'for d, _, fs in os.walk(os.path.join(root, "_app/immutable")):',
        '    for f in fs:',
        '        p = os.path.join(d, f)',
        '        print(os.path.getsize(p), hashlib.sha256(open(p, "rb").read()).hexdigest(), "/" + os.path.relpath(p, root))',
      ].join('\n'),
    ]);
    const onDisk = new Map<string, { bytes: number; sha256: string }>();
    for (const line of listing.trim().split('\n')) {
      const [bytes, sha256, path] = line.split(' ');
      onDisk.set(path!, { bytes: Number(bytes), sha256: sha256! });
    }
    // The page's own assets, as a browser finds them, plus the largest files of the bundle.
    const html = (await call(localPort, '/')).body.toString('utf8');
    const fromHtml = [...new Set([...html.matchAll(/\/_app\/immutable\/[^"'\s)]+/g)].map((m) => m[0]))].filter((p) => onDisk.has(p));
    expect(fromHtml.length).toBeGreaterThan(0);
    const large = [...onDisk.entries()]
      .filter(([, f]) => f.bytes > 1_000_000)
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 3)
      .map(([p]) => p);
    expect(large.length).toBeGreaterThan(0);

    const plan: string[] = [];
    for (let i = 0; i < 50; i++)
      plan.push(i % 4 === 0 ? large[(i / 4) % large.length]! : i % 4 === 1 ? fromHtml[i % fromHtml.length]! : '/health');
    // identity: the bytes must be the file's, not a compressed rendition
    const results = await Promise.all(
      plan.map((p) => call(localPort, p, { headers: { 'accept-encoding': 'identity' } }).then((r) => ({ path: p, ...r }))),
    );
    for (const r of results) {
      expect(r.status, r.path).toBe(200);
      const ref = onDisk.get(r.path);
      if (ref) expect({ path: r.path, bytes: r.bytes, sha256: r.sha256 }).toEqual({ path: r.path, ...ref });
    }
    const total = results.reduce((n, r) => n + r.bytes, 0);
    expect(total).toBeGreaterThan(10_000_000);
  });

  it("a websocket (Open WebUI's socket.io) stays open through the forward and carries messages both ways", async () => {
    const { localPort } = forwards.webui;
    const { token } = await signIn(`http://127.0.0.1:${localPort}`, admin());
    const ws = new WebSocket(`ws://127.0.0.1:${localPort}/ws/socket.io/?EIO=4&transport=websocket`);
    const inbox: string[] = [];
    let wake = () => undefined as void;
    ws.onmessage = (e) => {
      const text = String(e.data);
      if (text === '2')
        ws.send('3'); // engine.io ping -> pong
      else inbox.push(text);
      wake();
    };
    let closed = false;
    ws.onclose = () => {
      closed = true;
      wake();
    };
    const expectMessage = async (re: RegExp): Promise<string> => {
      const deadline = Date.now() + HANG_MS;
      for (;;) {
        const i = inbox.findIndex((m) => re.test(m));
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        if (closed) throw new Error(`websocket closed while waiting for ${re}; got ${JSON.stringify(inbox)}`);
        if (Date.now() > deadline) throw new Error(`no message ${re} within ${HANG_MS / 1000} s; got ${JSON.stringify(inbox)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 200);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('websocket through the forward did not open'));
    });
    const open = JSON.parse((await expectMessage(/^0\{/)).slice(1)) as { sid: string; pingInterval: number };
    expect(open.sid).toBeTruthy();
    ws.send(`40${JSON.stringify({ token })}`); // socket.io CONNECT to "/" with the auth payload
    expect(await expectMessage(/^40\{/)).toMatch(/"sid"/);

    // an event with an acknowledgement: server -> client carries the signed-in user back
    const join = (id: number) => ws.send(`42${id}${JSON.stringify(['user-join', { auth: { token } }])}`);
    join(1);
    const ack1 = JSON.parse((await expectMessage(/^431/)).slice(3)) as [{ id: string; name: string }];
    expect(ack1[0].id).toBeTruthy();

    // idle for seconds: an upgraded connection is not subject to an HTTP keep-alive timeout
    await sleep(PAST_UVICORN_DEFAULT_MS);
    expect(closed).toBe(false);
    join(2);
    const ack2 = JSON.parse((await expectMessage(/^432/)).slice(3)) as [{ id: string }];
    expect(ack2[0].id).toBe(ack1[0].id);

    ws.close();
    await until('the websocket closes', HANG_MS, async () => (closed ? true : undefined));
  });

  it('a streamed (SSE) response is passed on as it is produced, not buffered', async () => {
    const marker = `pf-${randomBytes(4).toString('hex')}`;
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const prompt = `${marker} ${words}`;
    const model = 'claude-sonnet-5-5';
    const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: prompt }] });
    const upstreamRecord = async () => {
      const res = await call(forwards.fake.localPort, '/_fake/requests');
      const all = JSON.parse(res.body.toString('utf8')) as {
        path: string;
        body: unknown;
        finishedAt?: number;
        reply?: string;
        stream: boolean;
      }[];
      return all.find((r) => r.path === '/v1/messages' && JSON.stringify(r.body).includes(marker));
    };

    let firstTokenUpstream: Awaited<ReturnType<typeof upstreamRecord>> | 'pending' = 'pending';
    let text = '';
    let sawDone = false;
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: forwards.litellm.localPort,
          path: '/v1/chat/completions',
          method: 'POST',
          agent: false,
          timeout: 60_000,
          headers: {
            authorization: `Bearer ${masterKey()}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`streamed chat: HTTP ${res.statusCode}`));
          }
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            let i: number;
            while ((i = pending.indexOf('\n\n')) >= 0) {
              const event = pending.slice(0, i);
              pending = pending.slice(i + 2);
              const data = event.replace(/^data: ?/, '');
              if (data === '[DONE]') {
                sawDone = true;
                continue;
              }
              const delta = (JSON.parse(data) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content;
              if (!delta) continue;
              if (text === '') {
                // The first token is here: the upstream must still be producing the rest. A
                // buffering forward would deliver it only after the upstream finished.
                res.pause();
                upstreamRecord().then((r) => {
                  firstTokenUpstream = r;
                  res.resume();
                }, reject);
              }
              text += delta;
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('streamed chat: no answer within 60 s')));
      req.on('error', reject);
      req.end(body);
    });
    expect(sawDone).toBe(true);
    expect(firstTokenUpstream).not.toBe('pending');
    expect(firstTokenUpstream).toBeDefined();
    expect((firstTokenUpstream as { finishedAt?: number }).finishedAt).toBeUndefined();
    const done = await upstreamRecord();
    expect(done?.finishedAt).toBeDefined();
    expect(text).toContain(marker);
    expect(text).toBe(done?.reply);
  });

  it('the pod behind it deleted mid-connection: the client sees a close, new connections reach the replacement', async () => {
    const { localPort } = forwards.fake;
    const old = await readyPodOf('fake-anthropic');
    // Two connections in use when the pod goes, both kept alive (the fake's keep-alive timeout is
    // 75 s, so only the pod's end can close them): an idle one and one in the middle of a stream.
    const idle = await Conn.open(localPort);
    expect(status(await idle.request('GET', '/health'))).toBe(200);
    const streaming = await Conn.open(localPort);
    streaming.send('POST', '/v1/messages', fakeHeaders(), streamBody(60));
    // the stream has started (its headers and first events are here) and is far from done
    await until('the stream starts', HANG_MS, async () => streaming.received.includes('content_block_delta') || undefined);
    expect(streaming.closed).toBe(false);
    expect(idle.closed).toBe(false);

    await core.deleteNamespacedPod({ name: old.metadata!.name!, namespace: stack.namespace, gracePeriodSeconds: 0 });
    // Both clients learn that the pod is gone (a FIN or a reset), neither is left hanging.
    expect(await idle.waitClosed()).toBe(true);
    expect(await streaming.waitClosed()).toBe(true);
    idle.socket.destroy();
    streaming.socket.destroy();

    // Once the old pod is gone for good, a connection that is answered can only have reached
    // its replacement.
    await until('the old pod is removed', 120_000, async () =>
      core.readNamespacedPod({ name: old.metadata!.name!, namespace: stack.namespace }).then(
        () => undefined,
        (e: { code?: number }) => (e.code === 404 ? true : undefined),
      ),
    );
    const replacement = await until('a ready replacement pod', 120_000, () => readyPodOf('fake-anthropic').catch(() => undefined));
    expect(replacement.metadata!.name).not.toBe(old.metadata!.name);
    const after = await Conn.open(localPort);
    expect(status(await after.request('GET', '/health'))).toBe(200);
    after.socket.destroy();
  });

  it('after all of the above, holds no leftover local sockets or tunnels', async () => {
    const all = Object.values(forwards);
    const pods = new Map<Forward, k8s.V1Pod>();
    for (const f of all) pods.set(f, await readyPodOf(f.service));
    const healthPath = (f: Forward) => (f.service === 'litellm' ? '/health/liveliness' : '/health');

    // Positive control: the outside counts see a connection in use.
    const held: Conn[] = [];
    for (const f of all) {
      const c = await Conn.open(f.localPort);
      expect(status(await c.request('GET', healthPath(f)))).toBe(200);
      held.push(c);
      expect(localSocketsAt(f.localPort).length).toBeGreaterThanOrEqual(1);
      expect(await tunnelEndsInPod(pods.get(f)!, f.targetPort)).toBeGreaterThanOrEqual(1);
    }
    // Clients that go away abruptly: before their tunnel is even open, and mid-request.
    for (const f of all) {
      for (let i = 0; i < 5; i++) {
        const early = await Conn.open(f.localPort);
        early.socket.destroy();
        const mid = await Conn.open(f.localPort);
        mid.socket.write('GET /health HTTP/1.1\r\nhost: local');
        await sleep(50);
        mid.socket.resetAndDestroy();
      }
    }
    for (const c of held) c.socket.end();

    // Counted from outside: this process's sockets at the local port, the pod's end of tunnels.
    for (const f of all) {
      const pod = pods.get(f)!;
      await until(
        `${f.service}: no local socket left at :${f.localPort}`,
        15_000,
        async () => (localSocketsAt(f.localPort).length === 0 ? true : undefined),
        () => ({ sockets: localSocketsAt(f.localPort), forward: f.connections?.() }),
      );
      await until(`${f.service}: no tunnel left ending in ${pod.metadata!.name}`, 15_000, async () =>
        (await tunnelEndsInPod(pod, f.targetPort)) === 0 ? true : undefined,
      );
    }
    // Counted by the forward itself, with its own positive control.
    for (const f of all) {
      await until(
        `${f.service}: the forward counts nothing open`,
        15_000,
        async () => {
          const n = f.connections();
          return n.sockets === 0 && n.tunnels === 0 ? true : undefined;
        },
        () => f.connections(),
      );
      const c = await Conn.open(f.localPort);
      expect(status(await c.request('GET', healthPath(f)))).toBe(200);
      expect(f.connections()).toEqual({ sockets: 1, tunnels: 1 });
      c.socket.end();
      await until(
        `${f.service}: the forward counts nothing open again`,
        15_000,
        async () => {
          const n = f.connections();
          return n.sockets === 0 && n.tunnels === 0 ? true : undefined;
        },
        () => f.connections(),
      );
    }
  });
});
