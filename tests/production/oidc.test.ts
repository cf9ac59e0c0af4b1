// Sign-in through a real OpenID Connect provider (Dex on the test node, HTTPS): the
// authorization-code flow driven over HTTP from Open WebUI's login route to the provider's form
// and back, the user created with the role the overlay configures, a wrong password refused by
// the provider with no session, and the headless admin still signing in as the break-glass account.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, kc, secret, stack } from '../support/live.ts';
import { api, signIn } from '../support/open-webui.ts';
import { signInWithOidc, type OidcRoute } from '../support/oidc.ts';
import { IDP_NAMESPACE, IDP_ORIGIN, OIDC_TEST_CA, OIDC_TEST_FILE, PUBLIC_ORIGIN } from '../support/production-setup.ts';
import { forwardService, type Forward } from '../../lib/kube/port-forward.ts';

let idp: Forward;
let route: OidcRoute;
const user = () => ({ email: secret(OIDC_TEST_FILE, 'EMAIL'), password: secret(OIDC_TEST_FILE, 'PASSWORD') });

beforeAll(async () => {
  idp = await forwardService(kc, IDP_NAMESPACE, 'dex');
  route = {
    publicOrigin: PUBLIC_ORIGIN,
    webuiForwardPort: Number(new URL(stack.urls.openWebui).port),
    idpOrigin: IDP_ORIGIN,
    idpForwardPort: idp.localPort,
    idpCa: readFileSync(join(stack.secretsDir, OIDC_TEST_CA), 'utf8'),
  };
});
afterAll(() => idp?.close());

describe('OIDC sign-in through Dex', { timeout: 60_000 }, () => {
  it('signs the user in and creates them with the role the overlay configures (user)', async () => {
    const result = await signInWithOidc(route, user().email, user().password);
    expect(result.token, `no session; landed on ${result.landed}; trail: ${result.trail.join(' -> ')}`).toBeTruthy();
    // The flow went to the provider and back to Open WebUI's callback.
    expect(result.trail.some((u) => u.startsWith(`GET ${IDP_ORIGIN}/dex/auth`))).toBe(true);
    expect(result.trail.some((u) => new RegExp(`^GET ${PUBLIC_ORIGIN}/oauth/oidc/(login/)?callback\\?code=`).test(u))).toBe(true);
    const me = await api<{ email: string; role: string }>(stack.urls.openWebui, '/api/v1/auths/', result.token!);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: user().email, role: 'user' });
  });

  it('refuses a wrong password at the provider, with its error and no session', async () => {
    const result = await signInWithOidc(route, user().email, `${user().password}-wrong`);
    expect(result.token).toBeUndefined();
    expect(result.providerStatus).toBe(401);
    expect(result.providerError).toMatch(/Invalid Email Address and password/);
    expect(result.trail.some((u) => /\/oauth\/oidc\/(login\/)?callback/.test(u))).toBe(false);
  });

  it('still signs in the headless admin with a password (the break-glass account)', async () => {
    const { token, role } = await signIn(stack.urls.openWebui, admin());
    expect(role).toBe('admin');
    expect((await api(stack.urls.openWebui, '/api/v1/auths/', token)).status).toBe(200);
  });
});
