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
/** The headless admin's session token, through the stack's Open WebUI forward. */
export const adminToken = async () => (await signIn(stack.urls.openWebui, admin())).token;

afterEach(async (ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  const file = await dumpDiagnostics(kc, stack.namespace, ctx.task.name);
  const err = ctx.task.result.errors?.[0];
  if (err) err.message += `\n(pod logs, events and states: ${file})`;
  console.error(`diagnostics for "${ctx.task.name}": ${file}`);
});
