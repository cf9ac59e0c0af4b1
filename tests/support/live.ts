// What a live test needs: the stack's info, a kube client for it, the generated credentials,
// and a failure hook that leaves the namespace's state in test-results/.
import { afterEach, inject } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeConfigFrom } from '../../lib/kube/config.ts';
import { stackSecret } from '../../dev/lib/stack.ts';
import { dumpDiagnostics } from './stack-setup.ts';
import { signIn, type Credentials } from './open-webui.ts';

export const stack = inject('stack');
export const kc: KubeConfig = kubeConfigFrom(stack.kubeConfigYaml);
/** A value of the stack's generated env files (never printed). */
export const secret = (file: string, key: string) => stackSecret(stack.secretsDir, file, key);
export const masterKey = () => secret('litellm.env', 'LITELLM_MASTER_KEY');
export const admin = (): Credentials => ({
  email: secret('admin.env', 'WEBUI_ADMIN_EMAIL'),
  password: secret('admin.env', 'WEBUI_ADMIN_PASSWORD'),
});
let adminSession: string | undefined;
/**
 * The headless admin's session token: one session reused while Open WebUI still accepts it (any
 * replica does: one WEBUI_SECRET_KEY), a new sign-in otherwise. Open WebUI allows 15 sign-ins per
 * account in 3 minutes, and tests that only act as the admin must not spend them; tests of
 * signing in itself call signIn.
 */
export async function adminToken(baseUrl = stack.urls.openWebui): Promise<string> {
  if (adminSession) {
    const me = await fetch(`${baseUrl}/api/v1/auths/`, { headers: { authorization: `Bearer ${adminSession}` } });
    if (me.status === 200) return adminSession;
  }
  adminSession = (await signIn(baseUrl, admin())).token;
  return adminSession;
}

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  const file = await dumpDiagnostics(kc, stack.namespace, ctx.task.name);
  const err = ctx.task.result.errors?.[0];
  if (err) err.message += `\n(pod logs, events and states: ${file})`;
  console.error(`diagnostics for "${ctx.task.name}": ${file}`);
});
