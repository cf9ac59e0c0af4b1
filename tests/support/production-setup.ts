// Global setup of the production project: overlays/production-selfhosted (both apps scaled out,
// in-cluster Postgres and Redis) on a node of its own, from a scratch copy of the manifests whose
// secrets are generated for this run. Two test fixtures are added around it, never inside it:
// - the fake Anthropic upstream (components/fake-anthropic), LiteLLM's "internet";
// - a real OpenID Connect provider, Dex (tests/production/fixtures/oidc-provider), serving HTTPS
//   at the in-cluster name https://dex.oidc-test.svc.cluster.local/dex with a certificate from a
//   CA made for the run; Open WebUI trusts that CA (SSL_CERT_FILE) and may reach the provider's
//   namespace (an in-cluster provider, unlike the external one the oidc component allows);
// - the platform's Gateway the overlay's route attaches to (gateway-system/public, on the node's
//   Traefik), and public-endpoint.yaml's proxyNamespace set to where that Traefik runs.
// It fills what a person would: the Anthropic key (checked by the fake) and the OIDC client.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomUUID } from 'node:crypto';
import { hashSync } from 'bcryptjs';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../../lib/kustomize.ts';
import { dockerTry } from '../../lib/docker.ts';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { createWorkspace, type Workspace } from './workspace.ts';
import { makeCa, makeServerCert } from '../../lib/tls.ts';
import { bootForTests, stackSetup } from './stack-setup.ts';

export const OVERLAY = 'production-selfhosted';
/** Open WebUI's public URL in the overlay (components/ingress WEBUI_URL). */
export const PUBLIC_ORIGIN = 'https://chat.example.com';
export const IDP_NAMESPACE = 'oidc-test';
export const IDP_ORIGIN = `https://dex.${IDP_NAMESPACE}.svc.cluster.local`;
export const IDP_ISSUER = `${IDP_ORIGIN}/dex`;
export const OIDC_CLIENT_ID = 'chat-stack';
/** The test user's sign-in data, in the run's secrets directory (read with `secret('oidc-test.env', ...)`). */
export const OIDC_TEST_FILE = 'oidc-test.env';
/** The run's CA certificate (PEM), beside it: the tests check the provider's TLS against it. */
export const OIDC_TEST_CA = 'oidc-test-ca.crt';
/**
 * The keys the fake Anthropic accepts, as its console holds them: an env file in the stack's
 * directory (`<workspace>/stack/`, beside the stack's kustomization) made into the Secret the
 * fake reads. A rotation test adds FAKE_ANTHROPIC_EXTRA_API_KEYS there and applies.
 */
export const FAKE_CONSOLE = { file: 'fake-anthropic-console.env', secret: 'fake-anthropic-console' } as const;
/** The workspace's directories beside the one applied (`stack.dir`): the stack's kustomization and the provider's. */
export const WORKSPACE_DIRS = { stack: 'stack', provider: 'oidc-provider' } as const;
/**
 * The platform's Gateway the overlay's public-endpoint.yaml names (gateway-system/public), as a
 * platform team would run it: on the node's Traefik (k3s's), HTTPS for the public host with a
 * certificate from the run's own CA (this file, beside the secrets), routes admitted from "chat".
 */
export const PLATFORM_GATEWAY = { namespace: 'gateway-system', name: 'public', caFile: 'gateway-test-ca.crt' } as const;

let ws: Workspace | undefined;

/** A CA and a server certificate for the provider's in-cluster names (lib/tls.ts). */
async function makeCertificates(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const ca = await makeCa('chat-stack-test-ca', 2);
  const leaf = await makeServerCert(ca, [`dex.${IDP_NAMESPACE}.svc.cluster.local`, `dex.${IDP_NAMESPACE}.svc`, `dex.${IDP_NAMESPACE}`], 2);
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  writeFileSync(join(dir, 'tls.crt'), leaf.cert);
  writeFileSync(join(dir, 'tls.key'), leaf.key, { mode: 0o600 });
}

/** The provider: the fixture plus its generated config and certificate (already in `dir`). */
function writeProvider(dir: string, clientSecret: string, user: { email: string; password: string }): void {
  const config = {
    issuer: IDP_ISSUER,
    storage: { type: 'memory' },
    web: { https: '0.0.0.0:5556', tlsCert: '/etc/dex/tls/tls.crt', tlsKey: '/etc/dex/tls/tls.key' },
    oauth2: { skipApprovalScreen: true, responseTypes: ['code'] },
    enablePasswordDB: true,
    staticPasswords: [{ email: user.email, hash: hashSync(user.password, 10), username: 'ada', userID: randomUUID() }],
    staticClients: [
      {
        id: OIDC_CLIENT_ID,
        secret: clientSecret,
        name: 'chat-stack',
        redirectURIs: [`${PUBLIC_ORIGIN}/oauth/oidc/callback`, `${PUBLIC_ORIGIN}/oauth/oidc/login/callback`],
      },
    ],
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(config), { mode: 0o600 });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      resources: [relative(dir, join(REPO_ROOT, 'tests/production/fixtures/oidc-provider'))],
      secretGenerator: [
        { name: 'dex-config', namespace: IDP_NAMESPACE, files: ['config.yaml'] },
        { name: 'dex-tls', namespace: IDP_NAMESPACE, type: 'kubernetes.io/tls', files: ['tls.crt', 'tls.key'] },
      ],
    }),
  );
}

/** The stack under test: the overlay, the fake upstream (accepting `anthropicKey`), and Open WebUI trusting the run's CA. */
function writeStack(dir: string, certs: string, anthropicKey: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), readFileSync(join(certs, 'ca.crt')));
  const openWebuiPatch = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'open-webui' },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: 'open-webui',
              env: [{ name: 'SSL_CERT_FILE', value: '/etc/chat-stack-test/ca.crt' }],
              volumeMounts: [{ name: 'test-ca', mountPath: '/etc/chat-stack-test', readOnly: true }],
            },
          ],
          volumes: [{ name: 'test-ca', configMap: { name: 'test-ca' } }],
        },
      },
    },
  };
  const toProvider = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'open-webui-to-test-provider' },
    spec: {
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'open-webui' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': IDP_NAMESPACE } } }],
          ports: [{ protocol: 'TCP', port: 5556 }],
        },
      ],
    },
  };
  // Anthropic's side of the key: the fake accepts what its "console" Secret holds, not whatever
  // LiteLLM's Secret says, so a rotation test can overlap two keys as the real console allows.
  const fakeConsolePatch = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'fake-anthropic' },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: 'fake-anthropic',
              env: [
                {
                  name: 'FAKE_ANTHROPIC_API_KEY',
                  valueFrom: { secretKeyRef: { name: FAKE_CONSOLE.secret, key: 'FAKE_ANTHROPIC_API_KEY' } },
                },
                {
                  name: 'FAKE_ANTHROPIC_EXTRA_API_KEYS',
                  valueFrom: { secretKeyRef: { name: FAKE_CONSOLE.secret, key: 'FAKE_ANTHROPIC_EXTRA_API_KEYS', optional: true } },
                },
              ],
            },
          ],
        },
      },
    },
  };
  writeFileSync(join(dir, FAKE_CONSOLE.file), `FAKE_ANTHROPIC_API_KEY=${anthropicKey}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'fake-anthropic-console.yaml'), stringify(fakeConsolePatch));
  writeFileSync(join(dir, 'open-webui-test-ca.yaml'), stringify(openWebuiPatch));
  writeFileSync(join(dir, 'open-webui-to-test-provider.yaml'), stringify(toProvider));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: 'chat',
      resources: [`../manifests/local/${OVERLAY}`, 'open-webui-to-test-provider.yaml'],
      components: ['../manifests/components/fake-anthropic'],
      configMapGenerator: [{ name: 'test-ca', files: ['ca.crt'] }],
      secretGenerator: [{ name: FAKE_CONSOLE.secret, envs: [FAKE_CONSOLE.file] }],
      patches: [{ path: 'open-webui-test-ca.yaml' }, { path: 'fake-anthropic-console.yaml' }],
    }),
  );
}

/** The platform's Gateway (see PLATFORM_GATEWAY) with its TLS Secret, in `dir`. */
async function writePlatformGateway(dir: string, secretsDir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const host = new URL(PUBLIC_ORIGIN).hostname;
  const ca = await makeCa('chat-stack platform test CA', 2);
  const leaf = await makeServerCert(ca, [host], 2);
  writeFileSync(join(secretsDir, PLATFORM_GATEWAY.caFile), ca.cert);
  writeFileSync(join(dir, 'tls.crt'), leaf.cert);
  writeFileSync(join(dir, 'tls.key'), leaf.key, { mode: 0o600 });
  const gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: PLATFORM_GATEWAY.name },
    spec: {
      gatewayClassName: 'traefik',
      listeners: [
        {
          name: 'https',
          hostname: host,
          port: 8443,
          protocol: 'HTTPS',
          tls: { mode: 'Terminate', certificateRefs: [{ kind: 'Secret', name: 'public-tls' }] },
          allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'chat' } } } },
        },
      ],
    },
  };
  writeFileSync(join(dir, 'gateway.yaml'), stringify(gateway));
  writeFileSync(
    join(dir, 'namespace.yaml'),
    stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PLATFORM_GATEWAY.namespace } }),
  );
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: PLATFORM_GATEWAY.namespace,
      resources: ['namespace.yaml', 'gateway.yaml'],
      secretGenerator: [
        { name: 'public-tls', type: 'kubernetes.io/tls', files: ['tls.crt', 'tls.key'], options: { disableNameSuffixHash: true } },
      ],
    }),
  );
}

/** The overlay's way-in parameters as this platform sets them: its Gateway's proxy is k3s's Traefik. */
function pointAtNodeTraefik(overlayDir: string): void {
  const file = join(overlayDir, 'public-endpoint.yaml');
  const text = readFileSync(file, 'utf8');
  if (!/proxyNamespace: gateway-system/.test(text)) throw new Error(`${file}: expected proxyNamespace gateway-system to repoint`);
  writeFileSync(file, text.replace('proxyNamespace: gateway-system', 'proxyNamespace: kube-system'));
}

async function boot() {
  ws = await createWorkspace();
  const secretsDir = join(ws.localDir, OVERLAY);
  const log = (l: string) => console.log(`[production] ${l}`);
  const clientSecret = randomSecret();
  const anthropicKey = randomSecret('sk-ant-fake-');
  const user = { email: 'ada@example.com', password: randomSecret() };
  for (const l of [
    // Voyage AI's key as the fake's Voyage API accepts it (it reads the same Secret's value).
    ...fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: anthropicKey, VOYAGE_API_KEY: randomSecret('pa-fake-') }),
    ...fillEmptyValues(join(secretsDir, 'oidc.env'), {
      OPENID_PROVIDER_URL: `${IDP_ISSUER}/.well-known/openid-configuration`,
      OAUTH_CLIENT_ID: OIDC_CLIENT_ID,
      OAUTH_CLIENT_SECRET: clientSecret,
    }),
  ])
    log(`secrets: filled ${l} for the test (provider: Dex at ${IDP_ISSUER})`);
  writeFileSync(join(secretsDir, OIDC_TEST_FILE), `EMAIL=${user.email}\nPASSWORD=${user.password}\n`, { mode: 0o600 });

  // In the provider's kustomization directory: kustomize reads generator files only from there.
  const provider = join(ws.root, WORKSPACE_DIRS.provider);
  await makeCertificates(provider);
  writeFileSync(join(secretsDir, OIDC_TEST_CA), readFileSync(join(provider, 'ca.crt')));
  writeProvider(provider, clientSecret, user);
  writeStack(join(ws.root, WORKSPACE_DIRS.stack), provider, anthropicKey);
  await writePlatformGateway(join(ws.root, 'platform-gateway'), secretsDir);
  pointAtNodeTraefik(join(ws.overlaysDir, OVERLAY));
  const dir = join(ws.root, 'production-under-test');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({ resources: [`../${WORKSPACE_DIRS.stack}`, `../${WORKSPACE_DIRS.provider}`, '../platform-gateway'] }),
  );
  const stack = await bootForTests('production', {
    overlay: OVERLAY,
    dir,
    secretsDir,
    namespace: 'chat',
    reuse: false,
    clusterName: `production-${process.pid}`,
    forwardFakeUpstream: true,
  });
  // A figure for docs/performance.md, printed, never asserted.
  log(
    `node container memory with the stack up: ${(await dockerTry('stats', '--no-stream', '--format', '{{.MemUsage}}', stack.info.clusterId!)).stdout.trim()}`,
  );
  return stack;
}

export default stackSetup('production', boot, () => ws?.[Symbol.dispose]());
