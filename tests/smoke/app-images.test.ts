// The locally built app images (images/litellm, images/open-webui) stand in for the upstream
// images the manifests pin: each runs in plain Docker exactly as the base Deployment runs it
// (user, read-only root, no capabilities, no-new-privileges, tmpfs where the pod has emptyDirs,
// the env of the manifest, headless-admin component and dev overlay), on an --internal network
// (no route out) shared with the fake Anthropic upstream, and does the job the stack needs.
// Prints build time, size and start-to-healthy time of each image (not asserted).
// Engine: bash dev/engine.sh. Images are built here if missing or stale (cold: many minutes).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { GenericContainer, getContainerRuntimeClient, getReaper, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureImages, type EnsureResult } from '../../dev/lib/images.ts';
import { MANIFESTS_DIR } from '../../dev/lib/kustomize.ts';
import { pinnedImages } from '../../dev/lib/pins.ts';
import { useLocalRyuk } from '../../dev/lib/testcontainers-env.ts';
import { containerContract, tmpfsSize, type ContainerContract } from './app-images-manifests.ts';

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

interface ImageConfig {
  User: string;
  WorkingDir: string;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[];
  ExposedPorts?: Record<string, unknown>;
}

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const imageConfig = (ref: string) => JSON.parse(docker('image', 'inspect', '--format', '{{json .Config}}', ref)) as ImageConfig;
const envOf = (config: ImageConfig) => Object.fromEntries(config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const secret = () => randomBytes(18).toString('base64url');
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
    for (const mountPath of Object.keys(contract.pvcs)) tmpfs[mountPath] = ['rw', 'nosuid', 'nodev', 'exec', 'mode=2770', ...owner].join(',');
    let container = this.onNetwork(network, aliases).withUser(contract.user).withTmpFs(tmpfs).withDroppedCapabilities(...contract.capDrop);
    if (contract.capAdd.length) container = container.withAddedCapabilities(...contract.capAdd);
    if (!contract.allowPrivilegeEscalation) container = container.withSecurityOpt('no-new-privileges');
    if (contract.args) container = container.withCommand(contract.args);
    if (contract.command) container = container.withEntrypoint(contract.command);
    return container;
  }
}

/** Env for a container: the manifest's plain values, its Secret references filled from `secrets`, then `extra`. */
function podEnv(contract: ContainerContract, secrets: Record<string, Record<string, string>>, extra: Record<string, string> = {}) {
  const env: Record<string, string> = { ...contract.env };
  for (const [name, ref] of Object.entries(contract.secretEnv)) {
    const value = secrets[ref.secret]?.[ref.key];
    if (value === undefined) throw new Error(`${contract.deployment}: env ${name} needs Secret ${ref.secret} key ${ref.key}, which the test does not provide`);
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** Polls url until it answers 2xx; resolves with the milliseconds waited. */
async function waitForHttp(url: string, timeoutMs: number, logs: () => string): Promise<number> {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (res.ok) return Date.now() - t0;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} not healthy after ${seconds(timeoutMs)} (last: ${last})\n--- logs ---\n${logs().slice(-4000)}`);
}

interface RunningApp {
  container: StartedTestContainer;
  ip: string;
  logs: () => string;
  startMs: number;
  healthyMs: number;
}

describe('app images under the manifests\' securityContext, offline', { timeout: 180_000 }, () => {
  const litellm = containerContract('litellm-deployment.yaml', 'litellm', ['overlays/dev/litellm-deployment.yaml']);
  const openWebui = containerContract('open-webui-deployment.yaml', 'open-webui', ['components/headless-admin/open-webui-deployment.yaml']);
  const config = parse(readFileSync(path.join(MANIFESTS_DIR, 'base/litellm-config.yaml'), 'utf8')) as {
    model_list: { model_name: string; litellm_params: { model: string } }[];
  };
  const modelNames = config.model_list.map((m) => m.model_name);
  const secrets = {
    'litellm-secrets': { LITELLM_MASTER_KEY: `sk-${secret()}`, ANTHROPIC_API_KEY: `sk-ant-${secret()}` },
    'open-webui-secrets': { WEBUI_SECRET_KEY: secret() },
    'open-webui-admin': { WEBUI_ADMIN_EMAIL: 'admin@chat.test', WEBUI_ADMIN_PASSWORD: `A1-${secret()}` },
  };
  const masterKey = secrets['litellm-secrets'].LITELLM_MASTER_KEY;

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
    networkName = `chatstack-app-images-${randomBytes(4).toString('hex')}`;
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
    copyFileSync(path.join(MANIFESTS_DIR, 'base/litellm-config.yaml'), path.join(configDir, 'config.yaml'));
    chmodSync(path.join(configDir, 'config.yaml'), 0o644);

    fake = await startApp(refs['fake-anthropic'], undefined, {
      aliases: [FAKE_ALIAS],
      env: { FAKE_ANTHROPIC_API_KEY: secrets['litellm-secrets'].ANTHROPIC_API_KEY, TOKEN_DELAY_MS: '5' },
      health: '/health',
      port: 8080,
    });
    ll = await startApp(refs.litellm, litellm, {
      aliases: [LITELLM_ALIAS],
      env: podEnv(litellm, secrets),
      health: litellm.probes.startup ?? '/health/liveliness',
      port: litellm.port,
      binds: Object.entries(litellm.configMaps).map(([target]) => ({ source: configDir, target })),
    });
    ow = await startApp(refs['open-webui'], openWebui, {
      aliases: ['open-webui'],
      env: podEnv(openWebui, secrets),
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
    for (const [name, app] of [['litellm', ll], ['open-webui', ow]] as const) {
      if (app) lines.push(`  ${name.padEnd(15)} container start ${seconds(app.startMs)}, start-to-healthy ${seconds(app.healthyMs)}`);
    }
    console.log(lines.join('\n'));
    for (const c of started.reverse()) await c.stop().catch(() => {});
    await removeNetwork().catch(() => {});
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, 120_000);

  describe('the images keep their upstream image\'s run-time contract', () => {
    it('both stand in for the exact releases the manifests pin', () => {
      const pins = pinnedImages();
      expect(refs.litellm).toBe(`chatstack.local/litellm:${pins[litellm.image]}`);
      expect(refs['open-webui']).toBe(`chatstack.local/open-webui:${pins[openWebui.image]}`);
    });

    it.each([
      ['litellm', LITELLM_CONTRACT],
      ['open-webui', OPEN_WEBUI_CONTRACT],
    ] as const)('%s: user, working directory, entrypoint, command, port and env defaults', (name, contract) => {
      const cfg = imageConfig(refs[name]);
      expect(cfg.User).toBe(contract.user);
      expect(cfg.WorkingDir).toBe(contract.workingDir);
      expect(cfg.Entrypoint ?? null).toEqual(contract.entrypoint);
      expect(cfg.Cmd).toEqual(contract.cmd);
      expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual(contract.exposed);
      expect(envOf(cfg)).toMatchObject(contract.env);
      if ('pathFirst' in contract) expect(envOf(cfg).PATH.split(':')[0]).toBe(contract.pathFirst);
    });

    it('litellm: nobody is UID/GID 65534, and the admin UI is pre-built where the non-root code looks', async () => {
      const r = await ll.container.exec(['sh', '-c', 'getent passwd nobody; id -u; id -g; test -f /var/lib/litellm/ui/.litellm_ui_ready && test -f /var/lib/litellm/ui/login/index.html && ls /var/lib/litellm/assets']);
      expect(r.exitCode, r.output).toBe(0);
      expect(r.stdout).toMatch(/^nobody:x:65534:65534:/m);
      expect(r.stdout).toMatch(/^65534\n65534$/m);
      expect(r.stdout).toContain('logo.png');
      const ui = await fetch(`http://${ll.ip}:${litellm.port}/ui/login/`);
      expect(ui.status).toBe(200);
    });

    it('open-webui: paths resolve as in the upstream source tree', async () => {
      const script = 'import json, open_webui.env as e; print(json.dumps({k: str(getattr(e, k)) for k in ("OPEN_WEBUI_DIR", "BACKEND_DIR", "DATA_DIR", "FRONTEND_BUILD_DIR", "STATIC_DIR", "VERSION")}))';
      const r = await ow.container.exec(['python3', '-c', script], { workingDir: '/app/backend' });
      expect(r.exitCode, r.output).toBe(0);
      const paths = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
      expect(paths).toEqual({
        OPEN_WEBUI_DIR: '/app/backend/open_webui',
        BACKEND_DIR: '/app/backend',
        DATA_DIR: '/app/backend/data',
        FRONTEND_BUILD_DIR: '/app/build',
        STATIC_DIR,
        VERSION: pinnedImages()[openWebui.image].slice(1),
      });
      // The static emptyDir was re-filled from the frontend build at this start (copied files
      // are newer than the container), and is served.
      const started = Date.parse(docker('inspect', '--format', '{{.State.StartedAt}}', ow.container.getId())) / 1000;
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

    it('lists the configured models with the master key and refuses without it', async () => {
      const url = `http://${ll.ip}:${litellm.port}/v1/models`;
      const ok = await fetch(url, { headers: { Authorization: `Bearer ${masterKey}` } });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { data: { id: string }[] };
      expect(body.data.map((m) => m.id).sort()).toEqual([...modelNames].sort());
      expect((await fetch(url)).status).toBe(401);
      // A wrong key is refused too (LiteLLM answers 400 or 401 depending on the key's shape).
      const wrong = await fetch(url, { headers: { Authorization: 'Bearer sk-wrong-key' } });
      expect([400, 401, 403], await wrong.text()).toContain(wrong.status);
    });

    it('streams a chat completion through the OpenAI SDK from the fake upstream', async () => {
      const model = config.model_list[0];
      const upstreamModel = model.litellm_params.model.replace(/^anthropic\//, '');
      await fetch(`http://${fake.ip}:8080/_fake/requests`, { method: 'DELETE' });
      const client = new OpenAI({ baseURL: `http://${ll.ip}:${litellm.port}/v1`, apiKey: masterKey, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: model.model_name, stream: true, messages: [{ role: 'user', content: 'Hello from the smoke test' }] });
      const pieces: string[] = [];
      for await (const chunk of stream) {
        const delta = chunk.choices[0]?.delta?.content;
        if (delta) pieces.push(delta);
      }
      expect(pieces.length).toBeGreaterThanOrEqual(2);
      expect(pieces.join('')).toContain('Hello from the smoke test');
      const seen = (await (await fetch(`http://${fake.ip}:8080/_fake/requests`)).json()) as { path: string; body?: { model?: string; stream?: boolean } }[];
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
      const admin = secrets['open-webui-admin'];
      const res = await fetch(`http://${ow.ip}:${openWebui.port}/api/v1/auths/signin`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: admin.WEBUI_ADMIN_EMAIL, password: admin.WEBUI_ADMIN_PASSWORD }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { token: string; role: string };
      expect(body.role).toBe('admin');
      token = body.token;
      expect(token).toBeTruthy();
    });

    it('lists the LiteLLM models through its own API', async () => {
      const res = await fetch(`http://${ow.ip}:${openWebui.port}/api/models`, { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { id: string }[] };
      expect(body.data.map((m) => m.id)).toEqual(expect.arrayContaining(modelNames));
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
    it('the shared network is internal and the only one the apps are on', () => {
      expect(docker('network', 'inspect', '--format', '{{.Internal}}', networkName)).toBe('true');
      for (const app of [fake, ll, ow]) {
        const nets = JSON.parse(docker('inspect', '--format', '{{json .NetworkSettings.Networks}}', app.container.getId())) as Record<string, unknown>;
        expect(Object.keys(nets)).toEqual([networkName]);
      }
    });

    it('there is no route out from the apps\' containers', async () => {
      const probe = 'import socket\ntry:\n    socket.create_connection(("1.1.1.1", 443), timeout=3)\n    print("REACHED")\nexcept OSError as e:\n    print("blocked:", e)';
      for (const app of [ll, ow]) {
        const r = await app.container.exec(['python3', '-c', probe]);
        expect(r.stdout).toMatch(/^blocked:/);
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
