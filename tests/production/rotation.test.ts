// Every secret of the production stack rotated as docs/operations.md ("Rotating secrets") says,
// each under chats streaming through the platform's Gateway (tests/support/rollouts.ts), each
// ending with every replica serving a streamed chat. What users may notice is what the docs'
// table says, and nothing else: rotating WEBUI_SECRET_KEY signs everyone out (each refused session
// is counted, the client signs in again, any other failure fails the test); every other rotation,
// the in-cluster datastores' passwords included, fails no chat.
// The LiteLLM master key's rotation is in settings.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { randomSecret } from '../../lib/secrets.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';
import { execIn, podOf } from '../../lib/kube/pod.ts';
import { forwardService } from '../../lib/kube/port-forward.ts';
import { admin, adminToken, kc, secret, stack } from '../support/live.ts';
import { api, readChatAndFile, saveChatAndFile, signIn } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { sql } from '../support/postgres.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';
import { resetUpstream, upstreamRequests } from '../support/fake-upstream.ts';
import { signInWithOidc } from '../support/oidc.ts';
import { applyStack, editEnvFile, everyReplicaServes, teamAdmin, underTraffic } from '../support/rollouts.ts';
import {
  FAKE_CONSOLE,
  IDP_NAMESPACE,
  IDP_ORIGIN,
  OIDC_TEST_CA,
  OIDC_TEST_FILE,
  PUBLIC_ORIGIN,
  WORKSPACE_DIRS,
} from '../support/production-setup.ts';

const ns = stack.namespace;
const model = configuredModels()[0]!;
const envFile = (name: string) => join(stack.secretsDir, name);
/** The user and password of a postgresql:// URL. */
const loginOf = (url: string) => {
  const u = new URL(url);
  return { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
};
/** A file of the test workspace beside the applied directory (the stack's or the provider's kustomization). */
const workspaceFile = (dir: string, name: string) => join(stack.dir, '..', dir, name);

/** What a user keeps, made before a rotation and read after it on every replica with `token`. */
async function keptOnEveryReplica(token: string, made: { chatId: string; fileId: string }, title: string, fileText: string) {
  const forwards = await forwardEachPod('open-webui', 2);
  try {
    for (const f of forwards) {
      const seen = await readChatAndFile(f.url, token, made);
      expect(seen.chats, `chats listed by ${f.url}`).toContainEqual([made.chatId, title]);
      expect(seen.file, `file read through ${f.url}`).toEqual({ status: 200, text: fileText });
    }
  } finally {
    await closeAll(forwards);
  }
}

describe('rotating every secret under traffic through the Gateway', { timeout: 600_000 }, () => {
  it('ANTHROPIC_API_KEY: a second key at Anthropic, the Secret, then the old key revoked: zero failed chats, only the new key sent', async () => {
    const consoleFile = workspaceFile(WORKSPACE_DIRS.stack, FAKE_CONSOLE.file);
    const before = secret('litellm.env', 'ANTHROPIC_API_KEY');
    const rotated = randomSecret('sk-ant-fake-');
    const traffic = await underTraffic('ANTHROPIC_API_KEY in three steps', async () => {
      editEnvFile(consoleFile, { FAKE_ANTHROPIC_EXTRA_API_KEYS: rotated });
      const steps = [await applyStack('1: a second key created at Anthropic')];
      editEnvFile(envFile('litellm.env'), { ANTHROPIC_API_KEY: rotated });
      steps.push(await applyStack('2: the new key in the Secret (LiteLLM rolls)'));
      editEnvFile(consoleFile, { FAKE_ANTHROPIC_API_KEY: rotated, FAKE_ANTHROPIC_EXTRA_API_KEYS: undefined });
      steps.push(await applyStack('3: the old key revoked at Anthropic'));
      return steps;
    });
    expect(traffic.failures).toEqual([]);
    expect(traffic.served()).toBeGreaterThan(5);

    await resetUpstream();
    await everyReplicaServes();
    const sent = (await upstreamRequests()).filter((r) => r.path === '/v1/messages');
    expect(sent.length).toBeGreaterThan(0);
    // The fake keeps the key's last four characters only.
    expect(new Set(sent.map((r) => `${r.apiKeyValid} ${r.headers['x-api-key']}`))).toEqual(
      new Set([`true REDACTED...${rotated.slice(-4)}`]),
    );
    // Anthropic refuses the old key now; the new one is the control.
    const status = (key: string) =>
      fetch(`${stack.urls.fakeAnthropic}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: model.anthropicId, max_tokens: 8, messages: [{ role: 'user', content: 'key?' }] }),
      }).then((r) => r.status);
    expect([await status(rotated), await status(before)]).toEqual([200, 401]);
  });

  it('WEBUI_SECRET_KEY: everyone is signed out and signs in again, no chat fails otherwise; chats and files intact', async () => {
    const old = await adminToken();
    const users = [await teamAdmin(), await teamAdmin()];
    const title = `kept across the secret key ${Date.now()}`;
    const fileText = 'written before WEBUI_SECRET_KEY changed';
    const made = await saveChatAndFile(stack.urls.openWebui, old, { title, model: model.name, fileName: 'kept.txt', fileText });
    const traffic = await underTraffic(
      'WEBUI_SECRET_KEY in one apply',
      async () => {
        editEnvFile(envFile('open-webui.env'), { WEBUI_SECRET_KEY: randomSecret() });
        return [await applyStack('the new secret key')];
      },
      { signInAgain: true, users: () => users },
    );
    expect(traffic.failures).toEqual([]);
    expect(traffic.served()).toBeGreaterThan(5);
    // The sign-out is real: each client's session was refused at least once.
    expect(traffic.signedOut.length).toBeGreaterThanOrEqual(2);

    const forwards = await forwardEachPod('open-webui', 2);
    try {
      for (const f of forwards) expect((await api(f.url, '/api/v1/auths/', old)).status, `old session at ${f.url}`).toBe(401);
    } finally {
      await closeAll(forwards);
    }
    await keptOnEveryReplica(await adminToken(), made, title, fileText);
    await everyReplicaServes();
  });

  it("WEBUI_ADMIN_PASSWORD: changed in Open WebUI, then in the Secret: another admin's chats never fail; only the new password signs in", async () => {
    const before = admin();
    const token = await adminToken();
    const team = await teamAdmin();
    const next = randomSecret();
    const traffic = await underTraffic(
      'WEBUI_ADMIN_PASSWORD',
      async () => {
        const changed = await api(stack.urls.openWebui, '/api/v1/auths/update/password', token, {
          method: 'POST',
          body: JSON.stringify({ password: before.password, new_password: next }),
        });
        expect(changed.status).toBe(200);
        editEnvFile(envFile('admin.env'), { WEBUI_ADMIN_PASSWORD: next });
        return ['changed in Open WebUI', await applyStack('the Secret given the same value')];
      },
      { users: () => [team, team] },
    );
    expect(traffic.failures).toEqual([]);
    expect(traffic.served()).toBeGreaterThan(5);
    expect(admin().password).toBe(next);
    const forwards = await forwardEachPod('open-webui', 2);
    try {
      for (const f of forwards) {
        expect((await signIn(f.url, admin())).role).toBe('admin');
        await expect(signIn(f.url, before), `the old password at ${f.url}`).rejects.toThrow(/HTTP 400/);
      }
    } finally {
      await closeAll(forwards);
    }
  });

  it('OAUTH_CLIENT_SECRET: the provider and the Secret changed together: zero failed chats; OIDC sign-in works with the new secret', async () => {
    const dexConfig = workspaceFile(WORKSPACE_DIRS.provider, 'config.yaml');
    const config = parse(readFileSync(dexConfig, 'utf8')) as { staticClients: { secret: string }[] };
    const next = randomSecret();
    config.staticClients[0]!.secret = next;
    const traffic = await underTraffic('OAUTH_CLIENT_SECRET', async () => {
      writeFileSync(dexConfig, stringify(config), { mode: 0o600 });
      editEnvFile(envFile('oidc.env'), { OAUTH_CLIENT_SECRET: next });
      const step = await applyStack('the provider and the Secret');
      await waitUntilRolledOut(kc, IDP_NAMESPACE, { timeoutMs: 120_000 });
      return [step];
    });
    expect(traffic.failures).toEqual([]);
    expect(traffic.served()).toBeGreaterThan(5);

    // Open WebUI redeems the provider's code with its client secret: a stale one fails this sign-in.
    const idp = await forwardService(kc, IDP_NAMESPACE, 'dex');
    try {
      const user = { email: secret(OIDC_TEST_FILE, 'EMAIL'), password: secret(OIDC_TEST_FILE, 'PASSWORD') };
      const result = await signInWithOidc(
        {
          publicOrigin: PUBLIC_ORIGIN,
          webuiForwardPort: Number(new URL(stack.urls.openWebui).port),
          idpOrigin: IDP_ORIGIN,
          idpForwardPort: idp.localPort,
          idpCa: readFileSync(join(stack.secretsDir, OIDC_TEST_CA), 'utf8'),
        },
        user.email,
        user.password,
      );
      expect(result.token, `no session; landed on ${result.landed}; trail: ${result.trail.join(' -> ')}`).toBeTruthy();
      expect((await api(stack.urls.openWebui, '/api/v1/auths/', result.token!)).status).toBe(200);
    } finally {
      await idp.close();
    }
  });

  it('the in-cluster Postgres and Redis passwords, twice (alternating logins both ways): zero failed chats, the servers never restart', async () => {
    const token = await adminToken();
    const users = [await teamAdmin(), await teamAdmin()];
    const title = `kept across the datastore passwords ${Date.now()}`;
    const fileText = 'written before the datastore passwords changed';
    const made = await saveChatAndFile(stack.urls.openWebui, token, { title, model: model.name, fileName: 'kept.txt', fileText });
    const owner = secret('datastore-servers.env', 'POSTGRES_USER');
    const db = secret('datastore-servers.env', 'POSTGRES_DB');
    const servers = async () =>
      Promise.all(
        ['postgres', 'redis'].map(async (name) => {
          const pod = await podOf(kc, ns, name);
          return { name: pod.metadata!.name!, uid: pod.metadata!.uid!, restarts: pod.status!.containerStatuses![0]!.restartCount };
        }),
      );
    const serversBefore = await servers();
    const redisCli = async (password: string, ...args: string[]) =>
      execIn(kc, ns, (await podOf(kc, ns, 'redis')).metadata!.name!, 'redis', ['env', `REDISCLI_AUTH=${password}`, 'redis-cli', ...args]);
    const pgPod = await podOf(kc, ns, 'postgres');
    // Postgres checks passwords over the network (its own loopback is trusted, as upstream's image sets it).
    const psql = (user: string, password: string) =>
      execIn(kc, ns, pgPod.metadata!.name!, 'postgres', [
        'env',
        `PGPASSWORD=${password}`,
        'psql',
        '-h',
        pgPod.status!.podIP!,
        '-U',
        user,
        '-d',
        db,
        '-tAc',
        'SELECT current_user',
      ]);

    for (const round of [1, 2]) {
      const before = loginOf(secret('datastores.env', 'DATABASE_URL'));
      // The login not in use now gets the new password; Open WebUI moves to it; the old one retires.
      const next = { user: before.user === owner ? `${owner}_alt` : owner, password: randomSecret() };
      expect(next.user, `round ${round}`).toBe(round === 1 ? `${owner}_alt` : owner);
      const oldRedis = secret('datastore-servers.env', 'REDIS_PASSWORD');
      const redis = randomSecret();
      const traffic = await underTraffic(
        `the datastore passwords, round ${round}: ${before.user} -> ${next.user}`,
        async () => {
          // The docs' steps. 1: the servers accept the new credentials beside the old ones.
          await sql(
            next.user === owner
              ? `ALTER ROLE ${owner} WITH LOGIN PASSWORD '${next.password}'`
              : `DO $$ BEGIN CREATE ROLE ${next.user}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;` +
                  ` ALTER ROLE ${next.user} WITH LOGIN PASSWORD '${next.password}'; GRANT ${owner} TO ${next.user};` +
                  ` ALTER ROLE ${next.user} SET role = '${owner}'`,
          );
          expect((await redisCli(oldRedis, 'ACL', 'SETUSER', 'default', `>${redis}`)).stdout.trim()).toBe('OK');
          // 2: the Secrets, applied: Open WebUI rolls onto the new login; the servers' Secret changes in place.
          editEnvFile(envFile('datastores.env'), {
            DATABASE_URL: `postgresql://${next.user}:${next.password}@postgres:5432/${db}`,
            REDIS_URL: `redis://:${redis}@redis:6379/0`,
          });
          editEnvFile(envFile('datastore-servers.env'), {
            REDIS_PASSWORD: redis,
            ...(next.user === owner ? { POSTGRES_PASSWORD: next.password } : {}),
          });
          const steps = [await applyStack('the Secrets (Open WebUI rolls onto the new login)')];
          // 3: the old credentials retired, once no pod uses them.
          await sql(`ALTER ROLE ${before.user} PASSWORD NULL`);
          expect((await redisCli(redis, 'ACL', 'SETUSER', 'default', `<${oldRedis}`)).stdout.trim()).toBe('OK');
          return steps;
        },
        { users: () => users },
      );
      expect(traffic.failures, `round ${round}`).toEqual([]);
      expect(traffic.served()).toBeGreaterThan(5);
      // The new login is accepted and acts as the owner (Open WebUI's objects stay the owner's), the
      // old one is refused; Redis likewise.
      expect((await psql(next.user, next.password)).stdout.trim()).toBe(owner);
      const withOld = await psql(before.user, before.password);
      expect(withOld.code).not.toBe(0);
      expect(withOld.stderr).toMatch(/password authentication failed/);
      expect((await redisCli(redis, 'ping')).stdout.trim()).toBe('PONG');
      expect((await redisCli(oldRedis, 'ping')).stdout).toMatch(/WRONGPASS|NOAUTH/);
    }
    // Neither server restarted, so nothing it held was lost.
    expect(await servers()).toEqual(serversBefore);
    await keptOnEveryReplica(token, made, title, fileText);
    await everyReplicaServes(users[0]);
  });
});
