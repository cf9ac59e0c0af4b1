// Global setup of the production project: overlays/production-selfhosted (both apps scaled out,
// in-cluster Postgres and Redis) on a node of its own. It runs from a scratch copy of the
// manifests whose secrets are generated for this run, wrapped by a kustomization that adds the
// fake Anthropic upstream (components/fake-anthropic; the one test fixture in the stack), and
// fills what a person would: the Anthropic key (checked by the fake) and the OIDC client.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { fillEmptyValues, randomSecret } from '../../dev/lib/secrets.ts';
import { createWorkspace, type Workspace } from './workspace.ts';
import { bootForTests, stackSetup } from './stack-setup.ts';

export const OVERLAY = 'production-selfhosted';
let ws: Workspace | undefined;

async function boot() {
  ws = createWorkspace();
  const secretsDir = join(ws.overlaysDir, OVERLAY, 'secrets');
  const log = (l: string) => console.log(`[production] ${l}`);
  for (const l of [
    ...fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') }),
    // No identity provider runs on the test node yet: Open WebUI registers the client at start
    // and fetches the provider's metadata only when someone signs in through it.
    ...fillEmptyValues(join(secretsDir, 'oidc.env'), {
      OPENID_PROVIDER_URL: 'https://oidc.invalid/.well-known/openid-configuration',
      OAUTH_CLIENT_ID: 'chat-stack-test',
      OAUTH_CLIENT_SECRET: randomSecret(),
    }),
  ]) log(`secrets: filled ${l} for the test`);
  const dir = join(ws.root, 'production-under-test');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      namespace: 'chat',
      resources: [`../manifests/overlays/${OVERLAY}`],
      components: ['../manifests/components/fake-anthropic'],
    }),
  );
  return bootForTests('production', { overlay: OVERLAY, dir, secretsDir, reuse: false, clusterName: `production-${process.pid}`, forwardFakeUpstream: true });
}

export default stackSetup('production', boot, () => ws?.[Symbol.dispose]());
