// Changes to the live production stack as its operators make them, and the traffic that must not
// notice: edit an env file of the stack's secrets, apply the stack (the harness's apply, which
// waits for every rollout and for the old pods to go), and chats streaming through the platform's
// Gateway the whole time, as browsers send them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import OpenAI from 'openai';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { up } from '../../dev/lib/stack.ts';
import { listPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Forward } from '../../lib/kube/port-forward.ts';
import { randomUUID } from 'node:crypto';
import { randomSecret } from '../../lib/secrets.ts';
import { adminToken, kc, stack } from './live.ts';
import { api, modelIds, signIn, streamChat, type Credentials } from './open-webui.ts';
import { configuredModels } from './models.ts';
import { closeAll, forwardEachPod } from './replicas.ts';
import { gatewayClient } from './gateway.ts';
import { PLATFORM_GATEWAY, PUBLIC_ORIGIN } from './production-setup.ts';

const ns = stack.namespace;
const model = configuredModels()[0]!;

/** Sets (or, with undefined, removes) keys of an env file, as a user edits it; keeps the rest. */
export function editEnvFile(file: string, changes: Record<string, string | undefined>): void {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !Object.keys(changes).some((k) => l.startsWith(`${k}=`)));
  for (const [k, v] of Object.entries(changes)) if (v !== undefined) lines.push(`${k}=${v}`);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** What a user runs (kubectl apply -k manifests/local/...): the harness's apply, which waits for every rollout, then for the old pods to go. */
export async function applyStack(step: string): Promise<string> {
  const t = Date.now();
  const applied = await up({
    overlay: stack.overlay,
    dir: stack.dir,
    secretsDir: stack.secretsDir,
    namespace: ns,
    kubeconfig: stack.kubeconfig,
    hermeticImagesLoaded: stack.images.mode === 'hermetic',
    ports: { openWebui: 0, litellm: 0 },
    log: (l) => console.log(`[apply] ${step}: ${l}`),
  });
  await applied.detach();
  await oldPodsGone();
  return `${step} ${((Date.now() - t) / 1000).toFixed(1)} s`;
}

/** A rollout reports complete while old pods still finish their preStop sleep: wait until they are gone. */
async function oldPodsGone(): Promise<void> {
  await waitUntil(
    'the old pods of the stack gone',
    async () => {
      const pods = await listPods(kc, ns);
      return pods.every((p) => !p.metadata?.deletionTimestamp) ? true : undefined;
    },
    { timeoutMs: 180_000 },
  );
}

export interface GatewayTraffic {
  /** Ends the chats and waits for those in flight. */
  stop(): Promise<void>;
  /** Chats answered in full with the expected reply. */
  served(): number;
  /** Every other outcome: time, HTTP status, message. */
  failures: string[];
  /** Times a client was refused its session (HTTP 401) and signed in again, with `signInAgain`. */
  signedOut: string[];
}

/**
 * Chats the whole time through the platform's Gateway as a browser sends them: verified TLS to
 * Traefik, kept-alive connections, two clients at once, each with its own session (as `users`,
 * default both the headless admin). With `signInAgain`, a 401 (the session refused) is what a
 * browser shows as the sign-in page: after a person's pause the client signs in again, and the
 * refusal is counted in `signedOut`, not in `failures`. Open WebUI allows 15 sign-ins per account
 * in 3 minutes, so give each client its own account then.
 */
/**
 * Another admin account, added by the headless admin: clients that each need a sign-in budget of
 * their own (Open WebUI allows 15 sign-ins per account in 3 minutes, failed ones included), and
 * traffic that must not be touched by a change to the headless admin.
 */
export async function teamAdmin(): Promise<Credentials> {
  const creds = { email: `team-${randomUUID()}@example.com`, password: randomSecret() };
  const added = await api(stack.urls.openWebui, '/api/v1/auths/add', await adminToken(), {
    method: 'POST',
    body: JSON.stringify({ ...creds, name: 'Team admin', role: 'admin' }),
  });
  if (added.status !== 200) throw new Error(`add a team admin: HTTP ${added.status} ${JSON.stringify(added.body)}`);
  return creds;
}

/** `users` default: two accounts of their own. */
export async function gatewayTraffic(opts: { signInAgain?: boolean; users?: () => Credentials[] } = {}): Promise<GatewayTraffic> {
  const gw = await gatewayClient(
    kc,
    new URL(PUBLIC_ORIGIN).hostname,
    readFileSync(join(stack.secretsDir, PLATFORM_GATEWAY.caFile), 'utf8'),
  );
  const own = opts.users ? [] : [await teamAdmin(), await teamAdmin()];
  const users = opts.users ?? (() => own);
  const session = async (creds: Credentials) => {
    const { token } = await signIn(gw.httpsOrigin, creds, gw.fetch);
    return new OpenAI({ baseURL: `${gw.httpsOrigin}/api`, apiKey: token, maxRetries: 0, timeout: 60_000, fetch: gw.fetch });
  };
  const want = expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'during the rollout' }] });
  let served = 0;
  let running = true;
  const failures: string[] = [];
  const signedOut: string[] = [];
  const failed = (what: string) => failures.push(`${new Date().toISOString()} ${what}`);
  const loop = async (creds: Credentials) => {
    let client: OpenAI | undefined;
    while (running) {
      if (!client) {
        // A sign-in that fails is a failed request too; the client tries again after a pause.
        client = await session(creds).catch((e: unknown) => {
          failed(String((e as Error).message));
          return undefined;
        });
        if (!client) await sleep(1_000);
        continue;
      }
      const chat = await streamChat(client, model.name, 'during the rollout');
      if (!chat.error && chat.text === want) served++;
      else if (opts.signInAgain && chat.error?.status === 401) {
        signedOut.push(`${new Date().toISOString()} ${creds.email}`);
        client = undefined;
        await sleep(5_000);
      } else failed(`${chat.error?.status ?? ''} ${chat.error?.message ?? `got ${chat.text.length} characters`}`);
    }
  };
  const [first, second] = users();
  const load = Promise.all([loop(first!), loop(second ?? first!)]);
  return {
    failures,
    signedOut,
    served: () => served,
    stop: async () => {
      running = false;
      await load;
      await gw.close();
    },
  };
}

/** Runs `change` under Gateway traffic; returns the traffic's outcome and prints it as a figure. */
export async function underTraffic(
  label: string,
  change: () => Promise<string[]>,
  opts: Parameters<typeof gatewayTraffic>[0] = {},
): Promise<GatewayTraffic> {
  const traffic = await gatewayTraffic(opts);
  const t0 = Date.now();
  let steps: string[] = [];
  try {
    steps = await change();
  } finally {
    await traffic.stop();
  }
  console.log(
    `[rotation] ${label}, ${((Date.now() - t0) / 1000).toFixed(1)} s (${steps.join('; ')}): ${traffic.served()} chats served through the Gateway, ${traffic.failures.length} failed${opts.signInAgain ? `, ${traffic.signedOut.length} signed out` : ''}`,
  );
  return traffic;
}

/** On each Open WebUI replica, on its own: signed in as `creds` (default: a new account), the models it lists and a streamed chat through it. */
export async function everyReplicaServes(creds?: Credentials): Promise<void> {
  const who = creds ?? (await teamAdmin());
  const forwards: Forward[] = await forwardEachPod('open-webui', 2);
  try {
    for (const f of forwards) {
      const { token } = await signIn(f.url, who);
      expect(await modelIds(f.url, '/api/models', token), `models listed by ${f.url}`).toContain(model.name);
      const client = new OpenAI({ baseURL: `${f.url}/api`, apiKey: token, maxRetries: 0 });
      const chat = await streamChat(client, model.name, 'still there?');
      expect(chat.text).toBe(expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'still there?' }] }));
    }
  } finally {
    await closeAll(forwards);
  }
}
