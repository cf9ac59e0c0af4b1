// overlays/local-cluster run for real, through the Gateway API on the gateway k3s ships
// (Traefik, a node add-on here as in k3s): the overlay's own Gateway with TLS from the local CA
// `npm run secrets` makes, its HTTPRoute for chat.localhost, HTTP redirected to HTTPS, and its
// NetworkPolicy admitting only Traefik's pods; and a real browser (Chromium, the local CA
// trusted) doing what upstream's Cypress chat test does, through the Gateway. It runs beside the
// dev stack on the same node, in its own namespace, with the fake upstream. Two test-only
// patches: the route's parentRef follows that namespace (public-endpoint.yaml names the
// overlay's own), and the public origin carries the local port the test forwards Traefik's 443
// to (a user's is https://chat.localhost, port 443; Open WebUI's CORS check compares origins).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { io, type Socket } from 'socket.io-client';
import { stringify } from 'yaml';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { stackSecret, up, type Stack } from '../../dev/lib/stack.ts';
import { deletePod, listPods, podOf } from '../../lib/kube/pod.ts';
import { scaleDeployment, waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import {
  channelsDisabled,
  reportChatErrors,
  sendAndAwaitReply,
  signInThroughForm,
  useBrowserSessions,
} from '../support/open-webui-page.ts';
import { ensureNamespace } from '../../lib/kube/namespace.ts';
import { stack as devStack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { chatThroughOpenWebui, signIn } from '../support/open-webui.ts';
import { canConnect, createProbePod } from '../support/probes.ts';
import { freePort, gatewayClient, TRAEFIK, type GatewayClient } from '../support/gateway.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const NAMESPACE = 'chat-local';
const HOST = 'chat.localhost';
const ELSEWHERE = 'gateway-elsewhere';
/** What one browser step may take before the test calls it a hang (a step normally takes < 2 s). */
const STEP_MS = 30_000;
let httpsPort = 0;
/** https://chat.localhost:<httpsPort>, the public origin under test */
let origin = '';

let ws: Workspace | undefined;
let stack: Stack | undefined;
let kc: k8s.KubeConfig;
let gw: GatewayClient;
let ca = '';
const sockets: Socket[] = [];

/** The overlay in its own namespace beside the dev stack (see the header). */
function writeWrapper(root: string): string {
  const dir = join(root, 'local-cluster-under-test');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: NAMESPACE,
      resources: ['../manifests/local/local-cluster'],
      components: ['../manifests/components/fake-anthropic'],
      patches: [
        {
          target: { kind: 'HTTPRoute', name: 'open-webui' },
          patch: stringify([{ op: 'replace', path: '/spec/parentRefs/0/namespace', value: NAMESPACE }]),
        },
        {
          patch: stringify({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'open-webui' },
            spec: {
              template: {
                spec: {
                  containers: [
                    {
                      name: 'open-webui',
                      env: [
                        { name: 'WEBUI_URL', value: origin },
                        { name: 'CORS_ALLOW_ORIGIN', value: origin },
                      ],
                    },
                  ],
                },
              },
            },
          }),
        },
      ],
    }),
  );
  return dir;
}

type Conditions = { type: string; status: string; reason?: string; message?: string }[];
async function conditions(plural: 'gateways' | 'httproutes', name: string): Promise<Record<string, string>> {
  const o = (await kc
    .makeApiClient(k8s.CustomObjectsApi)
    .getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: NAMESPACE, plural, name })) as {
    status?: { conditions?: Conditions; parents?: { conditions?: Conditions }[] };
  };
  const all = [...(o.status?.conditions ?? []), ...(o.status?.parents?.flatMap((p) => p.conditions ?? []) ?? [])];
  return Object.fromEntries(all.map((c) => [c.type, c.status]));
}

async function connectSocket(token: string, origin: string): Promise<Socket> {
  const socket = io(gw.httpsOrigin, {
    path: '/ws/socket.io',
    transports: ['websocket'],
    auth: { token },
    extraHeaders: { origin },
    agent: gw.httpsAgent as never,
    reconnection: false,
    timeout: 10_000,
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  return socket;
}

const admin = () => ({
  email: stackSecret(stack!.info.secretsDir, 'admin.env', 'WEBUI_ADMIN_EMAIL'),
  password: stackSecret(stack!.info.secretsDir, 'admin.env', 'WEBUI_ADMIN_PASSWORD'),
});

beforeAll(async () => {
  ws = await createWorkspace();
  const secretsDir = join(ws.localDir, 'local-cluster');
  fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') });
  ca = readFileSync(join(secretsDir, 'ca.crt'), 'utf8');
  httpsPort = await freePort();
  origin = `https://${HOST}:${httpsPort}`;
  stack = await up({
    overlay: 'local-cluster',
    dir: writeWrapper(ws.root),
    secretsDir,
    namespace: NAMESPACE,
    kubeconfig: devStack.kubeconfig,
    hermeticImagesLoaded: devStack.images.mode === 'hermetic',
    log: (l) => console.log(`[local-cluster] ${l}`),
  });
  kc = stack.kc;
  // A figure for docs/performance.md, printed, never asserted.
  console.log(`[local-cluster] up beside the dev stack in ${stack.info.timings['total']} s: ${JSON.stringify(stack.info.timings)}`);
  gw = await gatewayClient(kc, HOST, ca, { httpsPort });
}, 300_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await gw?.close();
  await stack?.stop({ log: (l) => console.log(`[local-cluster] ${l}`) });
  ws?.[Symbol.dispose]();
}, 120_000);

describe("the local-cluster overlay through the Gateway (k3s's Traefik)", { timeout: 120_000 }, () => {
  it('has its Gateway programmed and both routes accepted by Traefik', async () => {
    await expect
      .poll(() => conditions('gateways', 'chat'), { timeout: 60_000, interval: 1_000 })
      .toMatchObject({ Accepted: 'True', Programmed: 'True' });
    for (const route of ['open-webui', 'http-to-https']) {
      await expect
        .poll(() => conditions('httproutes', route), { timeout: 30_000, interval: 1_000 })
        .toMatchObject({ Accepted: 'True', ResolvedRefs: 'True' });
    }
  });

  it("serves the UI over HTTPS with the local CA's certificate: the page, its assets and /api/config", async () => {
    const t0 = Date.now();
    const page = await gw.fetch(`${gw.httpsOrigin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    console.log(`[local-cluster] UI page through the Gateway in ${Date.now() - t0} ms`);
    expect(html).toMatch(/<title>Open WebUI<\/title>/);
    const assets = [...new Set([...html.matchAll(/["'](\/_app\/immutable\/[^"']+\.(?:js|css))["']/g)].map((m) => m[1]!))];
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets.slice(0, 5)) {
      const r = await gw.fetch(`${gw.httpsOrigin}${asset}`);
      expect(r.status, asset).toBe(200);
      expect(r.headers.get('content-type'), asset).toMatch(/javascript|css/);
      await r.arrayBuffer();
    }
    const config = await gw.fetch(`${gw.httpsOrigin}/api/config`);
    expect(config.status).toBe(200);
    expect(((await config.json()) as { name?: string }).name).toMatch(/Open WebUI/);
  });

  it("presents a certificate for the host, issued by the overlay's CA (verified, not skipped)", async () => {
    const { connect } = await import('node:tls');
    const url = new URL(gw.httpsOrigin);
    const peer = await new Promise<PeerCertificate>((resolve, reject) => {
      const s: TLSSocket = connect({ host: '127.0.0.1', port: Number(url.port), servername: HOST, ca }, () => {
        resolve(s.getPeerCertificate());
        s.end();
      });
      s.once('error', reject);
    });
    expect(peer.subjectaltname).toBe(`DNS:${HOST}`);
    expect(String(peer.issuer.CN)).toMatch(/chat-stack local CA/);
  });

  it('redirects plain HTTP to the same URL over HTTPS', async () => {
    const r = await gw.fetch(`${gw.httpOrigin}/c/some-chat?x=1`);
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe(`https://${HOST}/c/some-chat?x=1`);
  });

  it('routes no other host to Open WebUI, over HTTP or HTTPS', async () => {
    for (const origin of [gw.httpOrigin, gw.httpsOrigin]) {
      const other = origin.replace(HOST, 'other.localhost');
      const r = await gw.fetchUnverified(`${other}/api/config`);
      expect(r.status, other).toBe(404);
      expect(await r.text(), other).not.toMatch(/Open WebUI/);
    }
  });

  it('streams a chat through the Gateway (TLS, Open WebUI, LiteLLM, the fake upstream)', async () => {
    const { got, want } = await chatThroughOpenWebui(gw.httpsOrigin, admin(), 'Hello through the Gateway', gw.fetch);
    expect(got).toEqual(want);
  });

  it('upgrades the websocket (socket.io) through the Gateway from the public origin, and refuses another origin', async () => {
    const { token } = await signIn(gw.httpsOrigin, admin(), gw.fetch);
    expect((await connectSocket(token, origin)).connected).toBe(true);
    await expect(connectSocket(token, 'https://evil.example')).rejects.toThrow(/websocket error|403|Unexpected server response/i);
  });
});

describe('the local-cluster NetworkPolicy', { timeout: 180_000 }, () => {
  let probeImage = '';
  let target = '';
  beforeAll(async () => {
    const fake = await podOf(kc, NAMESPACE, 'fake-anthropic');
    probeImage = fake.spec!.containers[0]!.image!;
    target = (await podOf(kc, NAMESPACE, 'open-webui')).status!.podIP!;
    await ensureNamespace(kc, ELSEWHERE, { 'pod-security.kubernetes.io/enforce': 'restricted' });
    await Promise.all([
      // Traefik's name label (not its instance label, so its Service ignores them)
      createProbePod(kc, TRAEFIK.namespace, 'gw-probe-proxy', probeImage, { 'app.kubernetes.io/name': TRAEFIK.podName }),
      createProbePod(kc, TRAEFIK.namespace, 'gw-probe-plain', probeImage, { run: 'probe' }),
      createProbePod(kc, ELSEWHERE, 'gw-probe-elsewhere', probeImage, { 'app.kubernetes.io/name': TRAEFIK.podName }),
    ]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all(['gw-probe-proxy', 'gw-probe-plain'].map((p) => deletePod(kc, TRAEFIK.namespace, p)));
    await kc
      .makeApiClient(k8s.CoreV1Api)
      .deleteNamespace({ name: ELSEWHERE })
      .catch(() => undefined);
  }, 120_000);

  it("admits the gateway proxy's pods, and no other pod of their namespace or with their label elsewhere", async () => {
    const ip = async (ns: string, name: string) =>
      (await kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name, namespace: ns })).status!.podIP!;
    // The proxy's pods get in (the requests above came that way; a probe with its labels too).
    expect(await canConnect(kc, TRAEFIK.namespace, 'gw-probe-proxy', 'probe', 'node', target, 8080)).toBe(true);
    // Positive controls: the other two probes reach a pod no policy restricts.
    const open = await ip(TRAEFIK.namespace, 'gw-probe-proxy');
    expect(await canConnect(kc, TRAEFIK.namespace, 'gw-probe-plain', 'probe', 'node', open, 8080)).toBe(true);
    expect(await canConnect(kc, ELSEWHERE, 'gw-probe-elsewhere', 'probe', 'node', open, 8080)).toBe(true);
    expect(await canConnect(kc, TRAEFIK.namespace, 'gw-probe-plain', 'probe', 'node', target, 8080)).toBe(false);
    expect(await canConnect(kc, ELSEWHERE, 'gw-probe-elsewhere', 'probe', 'node', target, 8080)).toBe(false);
  });
});

describe('Open WebUI in a browser through the Gateway (TLS from the local CA, trusted)', () => {
  const browser = useBrowserSessions();
  const open = async (name: string) => {
    const session = await browser.open(name, { baseURL: origin, trustCa: ca, allowed: { response: channelsDisabled } });
    session.page.setDefaultTimeout(STEP_MS);
    reportChatErrors(session);
    return session;
  };

  it(
    'signs in through the form, picks a model, streams a chat, finds it in the sidebar after a reload, signs out',
    { timeout: 240_000 },
    async () => {
      const t0 = Date.now();
      const session = await open('gateway-chat-flow');
      const { page } = session;
      // socket.io frames carrying the reply: it streams in over the websocket, through the Gateway
      let completionFrames = 0;
      page.on('websocket', (socket) =>
        socket.on('framereceived', (f) => (completionFrames += /chat:completion/.test(String(f.payload)) ? 1 : 0)),
      );

      await signInThroughForm(page, admin());
      console.log(`[local-cluster] browser: signed in ${Date.now() - t0} ms after launch (HTTPS through the Gateway)`);

      // pick a model other than the default, as upstream's test does: the fake's reply names it
      const model = configuredModels().at(-1)!;
      await page.locator(MODEL_SELECTOR).click();
      await page
        .getByRole('option', { name: model.name })
        .or(page.locator(`[data-value="${model.name}"]`))
        .first()
        .click();
      await expect.poll(() => page.locator(MODEL_SELECTOR).getAttribute('aria-label')).toContain(model.name);

      const prompt = `gateway-${randomBytes(4).toString('hex')} hello through Traefik`;
      await sendAndAwaitReply(session, prompt, `[${model.anthropicId}] Echo: ${prompt}`);
      expect(completionFrames, 'socket.io chat:completion frames (the reply streamed in)').toBeGreaterThan(1);
      await page.waitForURL(/\/c\/[\w-]+/);
      const chatPath = new URL(page.url()).pathname;

      // reload: the chat is in the sidebar
      await page.reload();
      await page.locator(`a[href="${chatPath}"]`).first().waitFor({ state: 'visible' });

      // sign out: back to the sign-in page
      await page.getByRole('button', { name: 'User menu' }).click();
      await page.getByText('Sign Out', { exact: true }).click();
      await page.waitForURL(/\/auth/);
      await page.locator('input[type="email"]').waitFor({ state: 'visible' });

      await session.assertNoProblems();
      console.log(`[local-cluster] browser: the whole flow took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
  );

  it(
    'catches a broken stack: with LiteLLM scaled to zero the same chat step fails with the error the app shows',
    { timeout: 300_000 },
    async () => {
      const scale = (replicas: number) => scaleDeployment(kc, NAMESPACE, 'litellm', replicas);
      await scale(0);
      try {
        await expect
          .poll(async () => (await listPods(kc, NAMESPACE, 'app.kubernetes.io/name=litellm')).length, { timeout: 120_000, interval: 1_000 })
          .toBe(0);
        const session = await open('gateway-broken-stack');
        await signInThroughForm(session.page, admin());
        const prompt = `gateway-${randomBytes(4).toString('hex')} with LiteLLM gone`;
        const model = configuredModels()[0]!;
        const failure = await sendAndAwaitReply(session, prompt, `[${model.anthropicId}] Echo: ${prompt}`).then(
          () => undefined,
          (e: Error) => e.message,
        );
        console.log(`[local-cluster] browser with LiteLLM at zero replicas: ${failure}`);
        expect(failure).toMatch(/the app showed an error in the chat: /);
        await expect(session.assertNoProblems()).rejects.toThrow(/problem\(s\)/);
        await browser.closeNow();
      } finally {
        await scale(1);
        await waitUntilRolledOut(kc, NAMESPACE, { timeoutMs: 180_000 });
      }
    },
  );
});

/** The model picker above the chat input (its aria-label names the selected model). */
const MODEL_SELECTOR = '#model-selector-model-button';
