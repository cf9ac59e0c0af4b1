// Signing in to Open WebUI through a real OpenID Connect provider, driven over HTTP the way a
// browser does it: follow the redirects to the provider's login form, post the user's
// credentials, follow the redirects back to Open WebUI's callback, keep the cookies.
// The public names both ends use (Open WebUI's WEBUI_URL host, the provider's in-cluster issuer
// host) are mapped to port-forwards, as a hosts file would: Open WebUI is reached as its ingress
// would reach it (Host and X-Forwarded-Proto), the provider over TLS checked against the run's CA.
import { CookieJar } from 'tough-cookie';
import { Agent, buildConnector, fetch as undiciFetch, type Response } from 'undici';

export interface OidcRoute {
  /** Open WebUI's public origin (WEBUI_URL), e.g. https://chat.example.com */
  publicOrigin: string;
  /** the local port of a forward to Open WebUI's Service */
  webuiForwardPort: number;
  /** the provider's origin as the issuer names it, e.g. https://dex.oidc-test.svc.cluster.local */
  idpOrigin: string;
  /** a local forward to the provider's Service (TLS end to end) */
  idpForwardPort: number;
  /** PEM of the CA that signed the provider's certificate */
  idpCa: string;
}

export interface OidcResult {
  /** Open WebUI's session token (the `token` cookie), when sign-in succeeded */
  token?: string;
  /** the provider's status and error text, when it refused the credentials */
  providerStatus?: number;
  providerError?: string;
  /** where the flow ended: Open WebUI's /auth page (with ?error=... when it refused) */
  landed?: string;
  /** every URL visited, for failure messages */
  trail: string[];
}

const MAX_HOPS = 12;

export async function signInWithOidc(route: OidcRoute, login: string, password: string): Promise<OidcResult> {
  const jar = new CookieJar();
  // Connections go to the forwards while URLs, Host headers and TLS names stay the public ones.
  const to = (port: number, tls: buildConnector.BuildOptions = {}): Agent => {
    const connector = buildConnector(tls);
    return new Agent({ connect: (opts, cb) => connector({ ...opts, hostname: '127.0.0.1', host: '127.0.0.1', port: String(port) }, cb) });
  };
  const webui = to(route.webuiForwardPort);
  const idp = to(route.idpForwardPort, { ca: route.idpCa, servername: new URL(route.idpOrigin).hostname });
  const trail: string[] = [];
  try {
    const send = async (
      url: string,
      init: { method?: string; body?: string; headers?: Record<string, string> } = {},
    ): Promise<Response> => {
      trail.push(`${init.method ?? 'GET'} ${url}`);
      const u = new URL(url);
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const cookie = await jar.getCookieString(url);
      if (cookie) headers['cookie'] = cookie;
      let res: Response;
      if (u.origin === route.publicOrigin) {
        // What the ingress would send: plain HTTP to the pod, the public Host, and that the
        // client spoke HTTPS (uvicorn trusts X-Forwarded-Proto: --forwarded-allow-ips).
        headers['x-forwarded-proto'] = u.protocol.replace(':', '');
        res = await undiciFetch(`http://${u.host}${u.pathname}${u.search}`, { ...init, headers, redirect: 'manual', dispatcher: webui });
      } else if (u.origin === route.idpOrigin) {
        res = await undiciFetch(url, { ...init, headers, redirect: 'manual', dispatcher: idp });
      } else {
        throw new Error(`redirected to ${url}, which is neither Open WebUI (${route.publicOrigin}) nor the provider (${route.idpOrigin})`);
      }
      for (const c of res.headers.getSetCookie()) await jar.setCookie(c, url);
      return res;
    };
    /** Follows redirects from `url`; returns the first non-redirect response and its URL. */
    const follow = async (url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
      let res = await send(url, init);
      for (let hop = 0; res.status >= 300 && res.status < 400; hop++) {
        if (hop > MAX_HOPS) throw new Error(`more than ${MAX_HOPS} redirects: ${trail.join(' -> ')}`);
        await res.body?.cancel();
        url = new URL(res.headers.get('location') ?? '', url).toString();
        // Open WebUI's landing page after sign-in: the token cookie is set by now.
        if (url === `${route.publicOrigin}/auth` || url.startsWith(`${route.publicOrigin}/auth?`)) return { res: undefined, url };
        res = await send(url);
      }
      return { res, url };
    };

    const form = await follow(`${route.publicOrigin}/oauth/oidc/login`);
    if (!form.res || form.res.status !== 200) throw new Error(`no login form: ${form.res?.status} at ${form.url} (${trail.join(' -> ')})`);
    const html = await form.res.text();
    const action = /<form[^>]*method="post"[^>]*action="([^"]+)"/i.exec(html)?.[1]?.replace(/&amp;/g, '&');
    if (!action) throw new Error(`the page at ${form.url} has no login form: ${html.slice(0, 300)}`);
    const posted = await follow(new URL(action, form.url).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login, password }).toString(),
    });
    if (posted.res) {
      const text = await posted.res.text();
      const error = /id="login-error"[^>]*>\s*([^<]+?)\s*</.exec(text)?.[1];
      return { providerStatus: posted.res.status, providerError: error ?? text.slice(0, 300), trail };
    }
    const token = (await jar.getCookies(route.publicOrigin)).find((c) => c.key === 'token')?.value;
    return { token, landed: posted.url, trail };
  } finally {
    await Promise.all([webui.close(), idp.close()]);
  }
}
