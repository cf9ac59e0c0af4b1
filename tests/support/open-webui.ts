// Open WebUI's own API, signed in as the headless admin the dev overlay generates.
import { admin, stack } from './live.ts';

export async function signIn(): Promise<string> {
  const res = await fetch(`${stack.urls.openWebui}/api/v1/auths/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admin()),
  });
  if (res.status !== 200) throw new Error(`sign-in as the headless admin: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token?: string; role?: string };
  if (!body.token) throw new Error('sign-in returned no token');
  return body.token;
}

export async function api<T>(path: string, token: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${stack.urls.openWebui}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: body as T };
}
