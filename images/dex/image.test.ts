// The Dex image (images/dex) as a real OpenID Connect provider for live tests: run as upstream's
// image runs (UID 1001, its command) with a read-only root filesystem and no capabilities, on a
// config written here (memory storage, the password database with one static user, one static
// client), and driven through the authorization-code flow over plain HTTP as a relying party
// (Open WebUI) and a browser would: discovery, the authorization endpoint's redirects to the login
// form, the form post, the redirect back with a code, the code exchanged at the token endpoint
// with client_secret_basic, the id_token checked against the JWKS. A wrong password gets the login
// form again (HTTP 401) with Dex's error and no code. Prints the start-to-discovery time (not asserted).
import { createPublicKey, randomBytes, randomUUID, verify, type JsonWebKey } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureImages, type EnsureResult } from '../factory/build.ts';
import { docker, dockerTry, imageConfig } from '../../lib/docker.ts';
import { lockedDownContainer, useLocalRyuk } from '../factory/testcontainers.ts';
import { waitUntil } from '../../lib/wait.ts';

const UID = 1001; // upstream's dex account
const PORT = 5556;
const START_TIMEOUT_MS = 60_000;
const USER = { email: 'alice@example.com', username: 'alice', userID: randomUUID(), password: `pw-${randomBytes(12).toString('hex')}` };
const CLIENT = { id: 'chatstack-test', secret: randomBytes(24).toString('base64url'), name: 'chatstack test client' };
// Where Open WebUI's OIDC callback lives; nothing needs to listen there, the test reads the redirect.
const REDIRECT_URI = 'http://127.0.0.1:8080/oauth/oidc/callback';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint: string;
  response_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  scopes_supported: string[];
}

/** One hop of the flow as a browser sees it. */
interface Hop {
  method: 'GET' | 'POST';
  url: string;
  status: number;
  location?: string;
}

/** The login page: where its form posts and the names of its inputs. */
interface LoginForm {
  url: string;
  action: string;
  inputs: string[];
  html: string;
}

const decodeHtml = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&#43;/g, '+')
    .replace(/&#61;/g, '=')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
const b64urlJson = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** A TCP port free on this host now (Dex's issuer must name the published port before the container starts). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** GETs `url` and follows redirects by hand (recording each hop) until a non-redirect answer. */
async function followRedirects(url: string, hops: Hop[]): Promise<{ url: string; res: Response }> {
  for (let i = 0; i < 10; i++) {
    const res = await fetch(url, { redirect: 'manual' });
    const location = res.headers.get('location') ?? undefined;
    hops.push({ method: 'GET', url, status: res.status, location });
    if (res.status < 300 || res.status >= 400 || !location) return { url, res };
    await res.body?.cancel();
    url = new URL(location, url).toString();
  }
  throw new Error(`more than 10 redirects from ${hops[0]?.url}`);
}

/** The login form of an HTML page, or undefined when the page has none. */
function parseLoginForm(url: string, html: string): LoginForm | undefined {
  const form = /<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const inputs = [...form[2]!.matchAll(/<input\b[^>]*\bname="([^"]+)"/gi)].map((m) => m[1]!);
  return { url, action: new URL(decodeHtml(form[1]!), url).toString(), inputs, html };
}

describe('images/dex: a real OpenID Connect provider', { timeout: 120_000 }, () => {
  let build: EnsureResult;
  let ref = '';
  let issuer = '';
  let configDir = '';
  let dex: StartedTestContainer;
  let discovery: Discovery;
  let startToDiscoveryMs = 0;
  const started: StartedTestContainer[] = [];

  /** Starts the image as a pod would run it (read-only root, no capabilities) with `config` mounted, `command` as its arguments. */
  async function startDex(opts: { command?: string[]; configFile?: string; hostPort?: number }): Promise<StartedTestContainer> {
    const container = lockedDownContainer(ref)
      .withExposedPorts(opts.hostPort ? { container: PORT, host: opts.hostPort } : PORT)
      .withWaitStrategy(Wait.forLogMessage(/listening on.*server=http/))
      .withStartupTimeout(START_TIMEOUT_MS);
    if (opts.configFile) container.withBindMounts([{ source: opts.configFile, target: '/etc/dex/config.yaml', mode: 'ro' }]);
    if (opts.command) container.withCommand(opts.command);
    const c = await container.start();
    started.push(c);
    return c;
  }

  const logsOf = async (c: StartedTestContainer) => {
    const r = await dockerTry('logs', c.getId());
    return `${r.stdout}\n${r.stderr}`;
  };

  /** Polls the discovery document until it answers (the "listening on" line comes just before the published port connects). */
  const discoveryOf = (c: StartedTestContainer, url: string) =>
    waitUntil(
      `${url} answering`,
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        return res.ok ? ((await res.json()) as Discovery) : undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, describe: async () => (await logsOf(c)).slice(-3000) },
    );

  /** The authorization request a relying party sends, followed to the login form. */
  async function openLoginForm(state: string, nonce: string, hops: Hop[]): Promise<LoginForm> {
    const auth = new URL(discovery.authorization_endpoint);
    auth.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT.id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      state,
      nonce,
    }).toString();
    const { url, res } = await followRedirects(auth.toString(), hops);
    const html = await res.text();
    expect(res.status, html.slice(0, 500)).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const form = parseLoginForm(url, html);
    expect(form, `no login form at ${url}:\n${html.slice(0, 2000)}`).toBeDefined();
    return form!;
  }

  /** Posts the login form as a browser would; returns the answer without following its redirect. */
  async function submitLogin(form: LoginForm, login: string, password: string, hops: Hop[]): Promise<Response> {
    const res = await fetch(form.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login, password }).toString(),
    });
    hops.push({ method: 'POST', url: form.action, status: res.status, location: res.headers.get('location') ?? undefined });
    return res;
  }

  beforeAll(async () => {
    [build] = await ensureImages(['dex']).then((rs) => rs.filter((r) => r.name === 'dex'));
    ref = build!.ref;
    await useLocalRyuk({ build: true });

    const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
    const hostPort = await freePort();
    issuer = `http://${host}:${hostPort}/dex`;
    configDir = mkdtempSync(path.join(tmpdir(), 'dex-config-'));
    const configFile = path.join(configDir, 'config.yaml');
    const config = {
      issuer,
      storage: { type: 'memory' },
      web: { http: `0.0.0.0:${PORT}` },
      logger: { level: 'info', format: 'text' },
      oauth2: { skipApprovalScreen: true },
      enablePasswordDB: true,
      staticPasswords: [{ email: USER.email, hash: bcrypt.hashSync(USER.password, 10), username: USER.username, userID: USER.userID }],
      staticClients: [{ id: CLIENT.id, secret: CLIENT.secret, name: CLIENT.name, redirectURIs: [REDIRECT_URI] }],
    };
    writeFileSync(configFile, stringify(config), { mode: 0o644 });
    chmodSync(configFile, 0o644); // readable by the image's UID 1001 whatever the umask

    const t0 = Date.now();
    dex = await startDex({ configFile, hostPort, command: ['dex', 'serve', '/etc/dex/config.yaml'] });
    const startedMs = Date.now() - t0;
    discovery = await discoveryOf(dex, `${issuer}/.well-known/openid-configuration`);
    startToDiscoveryMs = Date.now() - t0;
    console.log(
      [
        `dex image (not asserted): ${ref} ${mb(build!.sizeBytes)}, ${build!.status === 'built' ? `built now in ${build!.seconds}s` : 'up to date'}`,
        `  container start -> discovery answering: ${startToDiscoveryMs} ms (docker create+start and "listening on" log line: ${startedMs} ms)`,
      ].join('\n'),
    );
  }, 30 * 60_000);

  afterAll(async () => {
    for (const c of started.reverse()) await c.stop().catch(() => {});
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, 60_000);

  it("keeps upstream's run-time contract: UID 1001 (dex), the dex command on /etc/dex/config.docker.yaml, v2.45.1", async () => {
    const cfg = await imageConfig(ref);
    expect(cfg.User).toBe(`${UID}:${UID}`);
    expect(cfg.Cmd).toEqual(['dex', 'serve', '/etc/dex/config.docker.yaml']);
    expect(cfg.Entrypoint ?? []).toEqual([]);
    expect(Object.keys(cfg.ExposedPorts ?? {})).toEqual([`${PORT}/tcp`]);
    const out = await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '--read-only',
      ref,
      'sh',
      '-c',
      'id; command -v dex; dex version; ls /srv/dex/web/templates/password.html /etc/ssl/certs/ca-certificates.crt; stat -c "%u:%g %n" /var/dex /etc/dex',
    );
    expect(out).toMatch(/^uid=1001\(dex\) gid=1001\(dex\)/m);
    expect(out).toContain('/usr/local/bin/dex');
    expect(out).toMatch(/^Dex Version: v2\.45\.1$/m);
    expect(out).toMatch(/^1001:1001 \/var\/dex$/m);
    const pid1 = await dex.exec(['sh', '-c', "grep -E '^Uid:' /proc/1/status; touch /etc/dex/probe 2>&1 || true"]);
    expect(pid1.stdout).toMatch(/^Uid:\s+1001\s/m);
    expect(pid1.stdout).toMatch(/Read-only file system/);
  });

  it("its default command serves the image's own config (memory storage) with a read-only root", async () => {
    const c = await startDex({});
    const doc = await discoveryOf(c, `http://${c.getHost()}:${c.getMappedPort(PORT)}/dex/.well-known/openid-configuration`);
    expect(doc.issuer).toBe('http://127.0.0.1:5556/dex');
    expect(await logsOf(c)).toMatch(/storage_type=memory/);
    await c.stop();
  });

  it('publishes the discovery document and JWKS for the configured issuer', async () => {
    expect(discovery.issuer).toBe(issuer);
    expect(discovery.authorization_endpoint).toBe(`${issuer}/auth`);
    expect(discovery.token_endpoint).toBe(`${issuer}/token`);
    expect(discovery.jwks_uri).toBe(`${issuer}/keys`);
    expect(discovery.userinfo_endpoint).toBe(`${issuer}/userinfo`);
    expect(discovery.response_types_supported).toContain('code');
    expect(discovery.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['openid', 'email', 'profile']));
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: JsonWebKey[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).toMatchObject({ use: 'sig', kty: 'RSA' });
  });

  it("signs a user in through the authorization-code flow and issues a signed id_token with the user's email", async () => {
    const state = randomBytes(16).toString('hex');
    const nonce = randomBytes(16).toString('hex');
    const hops: Hop[] = [];
    const form = await openLoginForm(state, nonce, hops);
    expect(form.inputs).toEqual(['login', 'password']);
    expect(form.html).toContain('Log in to Your Account');

    const posted = await submitLogin(form, USER.email, USER.password, hops);
    expect(posted.status, await posted.clone().text()).toBe(303);
    const back = new URL(posted.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get('state')).toBe(state);
    const code = back.searchParams.get('code');
    expect(code).toBeTruthy();
    console.log(
      [
        'dex authorization-code flow (for driving it elsewhere):',
        ...hops.map((h) => `  ${h.method} ${h.url} -> ${h.status}${h.location ? ` Location: ${h.location}` : ''}`),
        `  login form: POST ${form.action} fields ${form.inputs.join(', ')}`,
      ].join('\n'),
    );

    const tokenRes = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT.id)}:${encodeURIComponent(CLIENT.secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT_URI }).toString(),
    });
    const tokens = (await tokenRes.json()) as { access_token: string; id_token: string; token_type: string; expires_in: number };
    expect(tokenRes.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toBeTruthy();

    const [headerPart, payloadPart, signaturePart] = tokens.id_token.split('.');
    const header = b64urlJson(headerPart!) as { alg: string; kid: string };
    const claims = b64urlJson(payloadPart!);
    expect(claims).toMatchObject({ iss: issuer, aud: CLIENT.id, email: USER.email, email_verified: true, name: USER.username, nonce });
    expect(typeof claims.sub).toBe('string');
    expect(claims.exp as number).toBeGreaterThan(Date.now() / 1000);

    // The signature verifies with the JWKS key the header names.
    expect(header.alg).toBe('RS256');
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(jwk, `kid ${header.kid} in ${JSON.stringify(jwks.keys.map((k) => k.kid))}`).toBeDefined();
    const ok = verify(
      'sha256',
      Buffer.from(`${headerPart}.${payloadPart}`),
      createPublicKey({ key: jwk!, format: 'jwk' }),
      Buffer.from(signaturePart!, 'base64url'),
    );
    expect(ok).toBe(true);

    // The access token works at the userinfo endpoint, as Open WebUI may use it.
    const userinfo = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ iss: issuer, email: USER.email, sub: claims.sub });

    // A code is good once.
    const again = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT_URI }).toString(),
    });
    expect(again.status).toBe(400);
  });

  it("answers a wrong password with the login form and Dex's error, and no code", async () => {
    const state = randomBytes(16).toString('hex');
    const hops: Hop[] = [];
    const form = await openLoginForm(state, randomBytes(8).toString('hex'), hops);
    const res = await submitLogin(form, USER.email, `${USER.password}-wrong`, hops);
    const html = await res.text();
    expect(res.status).toBe(401); // the login page again, with 401 Unauthorized
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('location')).toBeNull();
    const again = parseLoginForm(form.action, html);
    expect(again?.inputs).toEqual(['login', 'password']);
    const error = /<div id="login-error"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1]?.replace(/\s+/g, ' ').trim();
    console.log(`dex wrong-password error text: "${error}"`);
    expect(error).toBe('Invalid Email Address and password.');
    expect(html).toContain(`value="${USER.email}"`); // the login is kept, the password not
    expect(html).not.toMatch(/[?&]code=/);
    expect(await logsOf(dex)).toMatch(/failed login attempt: Invalid credentials\./);
  });
});
