// The locally built app images (images/litellm, images/open-webui) stand in for the upstream
// images the manifests pin: each runs in plain Docker exactly as the dev overlay's rendered
// Deployment runs it (user, read-only root, no capabilities, no-new-privileges, tmpfs where the
// pod has emptyDirs, its env and Secrets), on an --internal network (no route out) shared with the
// fake Anthropic upstream, and does the job the stack needs. Prints build time, size and
// start-to-healthy time of each image (not asserted). Images are built here if missing or stale.
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { GenericContainer, getContainerRuntimeClient, getReaper, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureImages, type EnsureResult } from './factory/build.ts';
import { docker, imageConfig, type ImageConfig } from '../lib/docker.ts';
import { useLocalRyuk } from './factory/testcontainers.ts';
import type { KubeObject } from '../lib/kustomize.ts';
import { pinnedImages } from '../lib/pins.ts';
import { waitUntil } from '../lib/wait.ts';
import { createWorkspace } from '../tests/support/workspace.ts';
import { modelIds, signIn } from '../tests/support/open-webui.ts';
import {
  containerContract,
  renderedConfig,
  renderedConfigFiles,
  renderedSecret,
  tmpfsSize,
  type ContainerContract,
} from './apps-contract.ts';

const SESSION_LABEL = 'org.testcontainers.session-id';
const APP_RECIPES = ['fake-anthropic', 'litellm', 'open-webui'] as const;
const LITELLM_ALIAS = 'litellm'; // the Service name the Open WebUI manifest points at
const FAKE_ALIAS = 'fake-anthropic'; // the Service name the dev overlay points LiteLLM at
const START_TIMEOUT_MS = 300_000;
const STATIC_DIR = '/app/backend/open_webui/static';

/** Downloads, lookups and connection failures that would mean an app reached for the internet. */
const NETWORK_ATTEMPTS: RegExp[] = [
  /huggingface\.co|hf\.co\/|hf-mirror|HF_HUB_OFFLINE|LocalEntryNotFoundError|OfflineModeIsEnabled/i,
  /raw\.githubusercontent\.com|api\.github\.com|objects\.githubusercontent\.com|github\.com\/[^\s]+\/(releases|raw)\//i,
  /pypi\.org|files\.pythonhosted\.org|registry\.npmjs\.org|binaries\.prisma\.sh|download\.pytorch\.org/i,
  /openaipublic\.blob\.core\.windows\.net|tiktoken.*(download|fetch)/i,
  /Temporary failure in name resolution|Name or service not known|getaddrinfo failed|nodename nor servname/i,
  /Network is unreachable|Failed to establish a new connection|Max retries exceeded|ConnectTimeout|ConnectError|Connection refused/i,
  /(Downloading|Fetching) .*(model|weights|tokenizer|encoding|cost map|model_prices)/i,
];

// The run-time contract of each upstream image (its Dockerfile), which the local image must keep.
const LITELLM_CONTRACT = {
  user: 'nobody',
  workingDir: '/app',
  entrypoint: ['/app/docker/prod_entrypoint.sh'],
  cmd: ['--port', '4000'],
  exposed: ['4000/tcp'],
  env: {
    HOME: '/app',
    LITELLM_NON_ROOT: 'true',
    XDG_CACHE_HOME: '/app/.cache',
    PRISMA_BINARY_CACHE_DIR: '/app/.cache/prisma-python/binaries',
    PRISMA_CLI_BINARY_TARGETS: 'debian-openssl-3.0.x',
    PRISMA_SKIP_POSTINSTALL_GENERATE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
    NPM_CONFIG_CACHE: '/app/.cache/npm',
    NPM_CONFIG_PREFER_OFFLINE: 'true',
    PRISMA_OFFLINE_MODE: 'true',
  },
  pathFirst: '/app/.venv/bin',
};
const OPEN_WEBUI_CONTRACT = {
  user: '0:0',
  workingDir: '/app/backend',
  entrypoint: null,
  cmd: ['bash', 'start.sh'],
  exposed: ['8080/tcp'],
  env: {
    HOME: '/root',
    ENV: 'prod',
    PORT: '8080',
    USE_OLLAMA_DOCKER: 'false',
    USE_CUDA_DOCKER: 'false',
    USE_SLIM_DOCKER: 'false', // the full build's defaults and code paths (README: what is missing)
    OLLAMA_BASE_URL: '/ollama',
    OPENAI_API_BASE_URL: '',
    OPENAI_API_KEY: '',
    WEBUI_SECRET_KEY: '',
    SCARF_NO_ANALYTICS: 'true',
    DO_NOT_TRACK: 'true',
    ANONYMIZED_TELEMETRY: 'false',
    WHISPER_MODEL: 'base',
    WHISPER_MODEL_DIR: '/app/backend/data/cache/whisper/models',
    RAG_EMBEDDING_MODEL: 'sentence-transformers/all-MiniLM-L6-v2',
    RAG_RERANKING_MODEL: '',
    SENTENCE_TRANSFORMERS_HOME: '/app/backend/data/cache/embedding/models',
    HF_HOME: '/app/backend/data/cache/embedding/models',
    TIKTOKEN_ENCODING_NAME: 'cl100k_base',
    TIKTOKEN_CACHE_DIR: '/app/backend/data/cache/tiktoken',
    PYTHONUNBUFFERED: '1',
    DOCKER: 'true',
  },
};

const envOf = (config: ImageConfig) =>
  Object.fromEntries((config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** A GenericContainer that also takes the pod-level settings testcontainers has no setter for. */
class PodContainer extends GenericContainer {
  /** On `network` only, reachable there as `aliases`; the test polls HTTP itself (no published ports on an internal network). */
  onNetwork(network: string, aliases: string[]): this {
    // The aliases go into the create request: withNetworkAliases would create the container on
    // the default bridge (a route out) and connect it to `network` afterwards.
    this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { Aliases: aliases } } };
    return this.withNetworkMode(network).withWaitStrategy(Wait.forListeningPorts()).withStartupTimeout(START_TIMEOUT_MS);
  }

  /** Runs the container as the Deployment does, on `network` only, reachable there as `aliases`. */
  asInPod(contract: ContainerContract, network: string, aliases: string[]): this {
    this.hostConfig.ReadonlyRootfs = contract.readOnlyRootFilesystem;
    this.hostConfig.Privileged = contract.privileged;
    // Docker fills a tmpfs with the content and mode of the image directory it covers (an emptyDir
    // starts empty and world-writable, a fresh PVC empty and group-writable through fsGroup), so
    // the pod's UID owns each tmpfs: as writable for the app as the volume, whatever the image has.
    const owner = [`uid=${contract.uid}`, `gid=${contract.fsGroup ?? contract.gid}`];
    const tmpfs: Record<string, string> = {};
    for (const [mountPath, sizeLimit] of Object.entries(contract.emptyDirs)) {
      const size = tmpfsSize(sizeLimit);
      tmpfs[mountPath] = ['rw', 'nosuid', 'nodev', 'exec', 'mode=1777', ...owner, ...(size ? [`size=${size}`] : [])].join(',');
    }
    for (const mountPath of Object.keys(contract.pvcs))
      tmpfs[mountPath] = ['rw', 'nosuid', 'nodev', 'exec', 'mode=2770', ...owner].join(',');
    let container = this.onNetwork(network, aliases)
      .withUser(contract.user)
      .withTmpFs(tmpfs)
      .withDroppedCapabilities(...contract.capDrop);
    if (contract.capAdd.length) container = container.withAddedCapabilities(...contract.capAdd);
    if (!contract.allowPrivilegeEscalation) container = container.withSecurityOpt('no-new-privileges');
    if (contract.args) container = container.withCommand(contract.args);
    if (contract.command) container = container.withEntrypoint(contract.command);
    return container;
  }
}

/** Env for a container as the kubelet gives it: the plain values, and its Secret references filled from the rendered Secrets. */
function podEnv(contract: ContainerContract, objects: KubeObject[]): Record<string, string> {
  const env: Record<string, string> = { ...contract.env };
  for (const [name, ref] of Object.entries(contract.secretEnv)) {
    const value = renderedSecret(objects, ref.secret, ref.key, ref.optional);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Polls url until it answers 2xx; resolves with the milliseconds waited. */
async function waitForHttp(url: string, timeoutMs: number, logs: () => string): Promise<number> {
  const t0 = Date.now();
  let last = 'no answer';
  await waitUntil(
    `${url} answering 2xx`,
    async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      last = `HTTP ${res.status}`;
      return res.ok ? true : undefined;
    },
    { timeoutMs, intervalMs: 250, describe: async () => `last ${last}\n--- logs ---\n${logs().slice(-4000)}` },
  );
  return Date.now() - t0;
}

interface RunningApp {
  container: StartedTestContainer;
  ip: string;
  logs: () => string;
  startMs: number;
  healthyMs: number;
}

describe("app images under the manifests' securityContext, offline", { timeout: 180_000 }, () => {
  // The dev overlay, rendered in a scratch copy with freshly generated secrets.
  let objects: KubeObject[] = [];
  let litellm: ContainerContract;
  let openWebui: ContainerContract;
  let config: { model_list: { model_name: string; litellm_params: { model: string }; model_info?: { mode?: string } }[] };
  /** The chat models: what LiteLLM lists (the embedding model is hidden from lists: litellm-model-listing.py). */
  let modelNames: string[] = [];
  let embeddingNames: string[] = [];
  let masterKey = '';
  const env = (contract: ContainerContract, name: string) => {
    const value = podEnv(contract, objects)[name];
    if (value === undefined) throw new Error(`${contract.deployment} has no env ${name}`);
    return value;
  };

  const refs: Record<string, string> = {};
  const builds: EnsureResult[] = [];
  let cachedEnsureMs = 0;
  let networkName = '';
  let removeNetwork: () => Promise<void> = async () => {};
  let configDir = '';
  let fake: RunningApp;
  let ll: RunningApp;
  let ow: RunningApp;
  const started: StartedTestContainer[] = [];

  async function startApp(
    image: string,
    contract: ContainerContract | undefined,
    opts: { aliases: string[]; env: Record<string, string>; health: string; port: number; binds?: { source: string; target: string }[] },
  ): Promise<RunningApp> {
    let out = '';
    const pod = new PodContainer(image);
    let c: GenericContainer = contract ? pod.asInPod(contract, networkName, opts.aliases) : pod.onNetwork(networkName, opts.aliases);
    c = c.withEnvironment(opts.env).withLogConsumer((stream) => stream.on('data', (d: Buffer | string) => (out += d.toString())));
    if (opts.binds) c = c.withBindMounts(opts.binds.map((b) => ({ ...b, mode: 'ro' as const })));
    const t0 = Date.now();
    const container = await c.start();
    started.push(container);
    const startMs = Date.now() - t0;
    const ip = container.getIpAddress(networkName);
    await waitForHttp(`http://${ip}:${opts.port}${opts.health}`, START_TIMEOUT_MS, () => out);
    return { container, ip, logs: () => out, startMs, healthyMs: Date.now() - t0 };
  }

  beforeAll(async () => {
    using ws = await createWorkspace();
    objects = await ws.render(path.join(ws.localDir, 'dev'));
    litellm = containerContract(objects, 'litellm', 'litellm');
    openWebui = containerContract(objects, 'open-webui', 'open-webui');
    const [configMount, configMap] = Object.entries(litellm.configMaps)[0] ?? [];
    if (!configMount || !configMap) throw new Error('the litellm container mounts no ConfigMap');
    const configText = renderedConfig(objects, configMap, 'config.yaml');
    config = parse(configText) as typeof config;
    modelNames = config.model_list.filter((m) => m.model_info?.mode !== 'embedding').map((m) => m.model_name);
    embeddingNames = config.model_list.filter((m) => m.model_info?.mode === 'embedding').map((m) => m.model_name);
    masterKey = env(litellm, 'LITELLM_MASTER_KEY');

    const t0 = Date.now();
    builds.push(...(await ensureImages([...APP_RECIPES])));
    const coldOrCurrentMs = Date.now() - t0;
    const t1 = Date.now();
    await ensureImages([...APP_RECIPES], { log: () => {} });
    cachedEnsureMs = Date.now() - t1;
    for (const b of builds) refs[b.name] = b.ref;
    console.log(`app-images: ensureImages took ${seconds(coldOrCurrentMs)}; again with nothing to do: ${seconds(cachedEnsureMs)}`);
    await useLocalRyuk({ build: true });

    const client = await getContainerRuntimeClient();
    const reaper = await getReaper(client);
    networkName = `chatstack-app-images-${randomUUID().slice(0, 8)}`;
    const network = await client.network.create({
      Name: networkName,
      Driver: 'bridge',
      Internal: true, // no route out of the network: the apps must start and work offline
      Labels: { [SESSION_LABEL]: reaper.sessionId, 'chatstack.test': 'app-images' },
    });
    removeNetwork = async () => {
      await client.network.remove(network);
    };

    configDir = mkdtempSync(path.join(tmpdir(), 'app-images-'));
    chmodSync(configDir, 0o755);
    // Every file of the ConfigMap, as the kubelet mounts it (config.yaml and the custom_auth module beside it).
    for (const [file, text] of Object.entries(renderedConfigFiles(objects, configMap)))
      writeFileSync(path.join(configDir, file), text, { mode: 0o644 });

    fake = await startApp(refs['fake-anthropic'], undefined, {
      aliases: [FAKE_ALIAS],
      env: { FAKE_ANTHROPIC_API_KEY: env(litellm, 'ANTHROPIC_API_KEY'), TOKEN_DELAY_MS: '5' },
      health: '/health',
      port: 8080,
    });
    ll = await startApp(refs.litellm, litellm, {
      aliases: [LITELLM_ALIAS],
      // The manifests log errors only (LITELLM_LOG=ERROR); here every INFO line is wanted, so that
      // "nothing tried to reach the network" is checked against the whole start-up log.
      env: { ...podEnv(litellm, objects), LITELLM_LOG: 'INFO' },
      health: litellm.probes.startup ?? '/health/liveliness',
      port: litellm.port,
      binds: Object.entries(litellm.configMaps).map(([target]) => ({ source: configDir, target })),
    });
    ow = await startApp(refs['open-webui'], openWebui, {
      aliases: ['open-webui'],
      env: podEnv(openWebui, objects),
      health: openWebui.probes.startup ?? '/health',
      port: openWebui.port,
    });
  }, 60 * 60_000);

  afterAll(async () => {
    const lines = ['app-images: measurements (not asserted)'];
    for (const b of builds) {
      const how = b.status === 'built' ? `built now in ${b.seconds}s (cold or stale)` : 'up to date (already built; nothing to do)';
      lines.push(`  ${b.name.padEnd(15)} ${b.ref.padEnd(42)} ${mb(b.sizeBytes).padStart(8)}  ${how}`);
    }
    lines.push(`  cached check of all three recipes (hash match, no build): ${seconds(cachedEnsureMs)}`);
    for (const [name, app] of [
      ['litellm', ll],
      ['open-webui', ow],
    ] as const) {
      if (app) lines.push(`  ${name.padEnd(15)} container start ${seconds(app.startMs)}, start-to-healthy ${seconds(app.healthyMs)}`);
    }
    console.log(lines.join('\n'));
    for (const c of started.reverse()) await c.stop().catch(() => {});
    await removeNetwork().catch(() => {});
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, 120_000);

  describe("the images keep their upstream image's run-time contract", () => {
    it('both stand in for the exact releases the manifests pin', () => {
      const pins = pinnedImages();
      for (const [recipe, contract] of [
        ['litellm', litellm],
        ['open-webui', openWebui],
      ] as const) {
        const [name, tag] = contract.image.split(':');
        expect(tag).toBe(pins[name!]);
        expect(refs[recipe]).toBe(`chatstack.local/${recipe}:${tag}`);
      }
    });

    it.each([
      ['litellm', LITELLM_CONTRACT],
      ['open-webui', OPEN_WEBUI_CONTRACT],
    ] as const)('%s: user, working directory, entrypoint, command, port and env defaults', async (name, contract) => {
      const cfg = await imageConfig(refs[name]!);
      expect(cfg.User).toBe(contract.user);
      expect(cfg.WorkingDir).toBe(contract.workingDir);
      expect(cfg.Entrypoint ?? null).toEqual(contract.entrypoint);
      expect(cfg.Cmd).toEqual(contract.cmd);
      expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(contract.exposed);
      expect(envOf(cfg)).toMatchObject(contract.env);
      if ('pathFirst' in contract) expect(envOf(cfg).PATH.split(':')[0]).toBe(contract.pathFirst);
    });

    it('litellm: nobody is UID/GID 65534, and the admin UI is pre-built where the non-root code looks', async () => {
      const r = await ll.container.exec([
        'sh',
        '-c',
        'getent passwd nobody; id -u; id -g; test -f /var/lib/litellm/ui/.litellm_ui_ready && test -f /var/lib/litellm/ui/login/index.html && ls /var/lib/litellm/assets',
      ]);
      expect(r.exitCode, r.output).toBe(0);
      expect(r.stdout).toMatch(/^nobody:x:65534:65534:/m);
      expect(r.stdout).toMatch(/^65534\n65534$/m);
      expect(r.stdout).toContain('logo.png');
      const ui = await fetch(`http://${ll.ip}:${litellm.port}/ui/login/`);
      expect(ui.status).toBe(200);
    });

    it('litellm: its CPython survives a ContextVar.set re-entered from the GC, which kills CPython 3.11 (the control)', async () => {
      // python/cpython#148891: LiteLLM on bookworm's 3.11 died with SIGSEGV while serving. The
      // same program is the control: open-webui's image still runs 3.11 (its release requires < 3.13
      // and Debian has no 3.12), where it must crash, or the check below proves nothing.
      const program = readFileSync(new URL('./fixtures/contextvar-gc-reentry.py', import.meta.url), 'utf8');
      const control = await ow.container.exec(['python3', '-c', program]);
      expect(control.exitCode, `CPython 3.11 survived: ${control.output}`).toBe(139);
      const r = await ll.container.exec(['python3', '-c', program]);
      expect(r.exitCode, r.output).toBe(0);
      expect(r.stdout).toMatch(/^survived 3\.(1[2-9]|[2-9]\d)\./m);
    });

    it('open-webui: paths resolve as in the upstream source tree', async () => {
      const script =
        'import json, open_webui.env as e; print(json.dumps({k: str(getattr(e, k)) for k in ("OPEN_WEBUI_DIR", "BACKEND_DIR", "DATA_DIR", "FRONTEND_BUILD_DIR", "STATIC_DIR", "VERSION")}))';
      const r = await ow.container.exec(['python3', '-c', script], { workingDir: '/app/backend' });
      expect(r.exitCode, r.output).toBe(0);
      const paths = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
      expect(paths).toEqual({
        OPEN_WEBUI_DIR: '/app/backend/open_webui',
        BACKEND_DIR: '/app/backend',
        DATA_DIR: '/app/backend/data',
        FRONTEND_BUILD_DIR: '/app/build',
        STATIC_DIR,
        VERSION: openWebui.image.split(':')[1]!.slice(1),
      });
      // The static emptyDir was re-filled from the frontend build at this start (copied files
      // are newer than the container), and is served.
      const started = Date.parse(await docker('inspect', '--format', '{{.State.StartedAt}}', ow.container.getId())) / 1000;
      const mtime = await ow.container.exec(['stat', '-c', '%Y', `${STATIC_DIR}/favicon.png`]);
      expect(mtime.exitCode, mtime.output).toBe(0);
      expect(Number(mtime.stdout.trim())).toBeGreaterThanOrEqual(Math.floor(started) - 1);
      const favicon = await fetch(`http://${ow.ip}:${openWebui.port}/static/favicon.png`);
      expect(favicon.status).toBe(200);
    });
  });

  describe('LiteLLM', () => {
    it('answers its liveness and readiness probes', async () => {
      for (const probe of [litellm.probes.liveness, litellm.probes.readiness]) {
        const res = await fetch(`http://${ll.ip}:${litellm.port}${probe}`);
        expect(res.status, `${probe}: ${await res.clone().text()}`).toBe(200);
      }
    });

    it('lists the configured chat models with the master key (not the embedding model) and refuses without it', async () => {
      const base = `http://${ll.ip}:${litellm.port}`;
      expect(embeddingNames.length).toBeGreaterThan(0);
      expect(await modelIds(base, '/v1/models', masterKey)).toEqual([...modelNames].sort());
      expect((await fetch(`${base}/v1/models`)).status).toBe(401);
      // A wrong key is refused too: without a key database LiteLLM says so with a 400 (as in the stack).
      const wrong = await fetch(`${base}/v1/models`, { headers: { Authorization: 'Bearer sk-wrong-key' } });
      expect(wrong.status).toBe(400);
      expect(await wrong.text()).toMatch(/No connected db/);
    });

    it('streams a chat completion through the OpenAI SDK from the fake upstream', async () => {
      const model = config.model_list[0]!;
      const upstreamModel = model.litellm_params.model.replace(/^anthropic\//, '');
      await fetch(`http://${fake.ip}:8080/_fake/requests`, { method: 'DELETE' });
      const client = new OpenAI({ baseURL: `http://${ll.ip}:${litellm.port}/v1`, apiKey: masterKey, maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: model.model_name,
        stream: true,
        messages: [{ role: 'user', content: 'Hello from the smoke test' }],
      });
      const pieces: string[] = [];
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta?.content;
        if (delta) pieces.push(delta);
      }
      expect(pieces.length).toBeGreaterThanOrEqual(2);
      expect(pieces.join('')).toContain('Hello from the smoke test');
      const seen = (await (await fetch(`http://${fake.ip}:8080/_fake/requests`)).json()) as {
        path: string;
        body?: { model?: string; stream?: boolean };
      }[];
      expect(seen.filter((r) => r.path === '/v1/messages').map((r) => r.body?.model)).toContain(upstreamModel);
    });
  });

  describe('Open WebUI', () => {
    let token = '';

    it('answers its liveness and readiness probes', async () => {
      for (const probe of [openWebui.probes.liveness, openWebui.probes.readiness]) {
        const res = await fetch(`http://${ow.ip}:${openWebui.port}${probe}`);
        expect(res.status, `${probe}`).toBe(200);
        expect(await res.json()).toMatchObject({ status: true });
      }
    });

    it('created the headless admin, who signs in', async () => {
      const session = await signIn(`http://${ow.ip}:${openWebui.port}`, {
        email: env(openWebui, 'WEBUI_ADMIN_EMAIL'),
        password: env(openWebui, 'WEBUI_ADMIN_PASSWORD'),
      });
      expect(session.role).toBe('admin');
      token = session.token;
    });

    it('lists the LiteLLM models through its own API', async () => {
      expect(await modelIds(`http://${ow.ip}:${openWebui.port}`, '/api/models', token)).toEqual([...modelNames].sort());
    });

    it('completes a chat through LiteLLM to the fake upstream (no PyTorch needed)', async () => {
      const res = await fetch(`http://${ow.ip}:${openWebui.port}/api/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: modelNames[0], stream: false, messages: [{ role: 'user', content: 'Ping through Open WebUI' }] }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0].message.content).toContain('Ping through Open WebUI');
    });
  });

  describe('offline', () => {
    it('the shared network is internal and the only one the apps are on', async () => {
      expect(await docker('network', 'inspect', '--format', '{{.Internal}}', networkName)).toBe('true');
      for (const app of [fake, ll, ow]) {
        const nets = JSON.parse(await docker('inspect', '--format', '{{json .NetworkSettings.Networks}}', app.container.getId())) as Record<
          string,
          unknown
        >;
        expect(Object.keys(nets)).toEqual([networkName]);
      }
    });

    it("there is no route out from the apps' containers", async () => {
      // TEST-NET-1 (RFC 5737): an address outside every local network that no host answers for.
      const probe =
        'import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n    print("REACHED")\nexcept OSError as e:\n    print("blocked:", e)';
      for (const app of [ll, ow]) {
        // Positive control: the same probe reaches the fake upstream on the shared network.
        const local = await app.container.exec(['python3', '-c', probe, fake.ip, '8080']);
        expect(local.stdout.trim()).toBe('REACHED');
        const out = await app.container.exec(['python3', '-c', probe, '192.0.2.1', '443']);
        // Docker drops an internal network's outbound packets: the connect times out or is refused a route.
        expect(out.stdout).toMatch(/^blocked: .*(timed out|unreachable|No route)/i);
      }
    });

    it.each(['litellm', 'open-webui'] as const)('%s started without trying to download or reach anything', (name) => {
      const logs = (name === 'litellm' ? ll : ow).logs();
      expect(logs.length).toBeGreaterThan(0);
      const hits = logs.split('\n').filter((line) => NETWORK_ATTEMPTS.some((re) => re.test(line)));
      expect(hits, `${name} log lines that look like network access:\n${hits.join('\n')}`).toEqual([]);
      expect(logs).toMatch(/Application startup complete|Uvicorn running|Started server process/);
    });
  });
});
