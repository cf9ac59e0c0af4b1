// Two Open WebUI replicas behave as one: each is reached on its own (a port-forward pinned to
// the pod, not the Service), and what one issues or writes the other accepts and reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, adminToken } from '../support/live.ts';
import { api } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { type Forward } from '../../lib/kube/port-forward.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';

let forwards: Forward[] = [];
let a = '';
let b = '';

beforeAll(async () => {
  forwards = await forwardEachPod('open-webui', 2);
  [a, b] = forwards.map((f) => f.url) as [string, string];
});
afterAll(() => closeAll(forwards));

describe('two Open WebUI replicas', { timeout: 60_000 }, () => {
  it('each answer on a forward of their own', async () => {
    // Every running replica (the HPA owns the count: other tests' traffic may have raised it past 2).
    const statuses = await Promise.all(forwards.map(async (f) => (await fetch(`${f.url}/health`)).status));
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses).toEqual(statuses.map(() => 200));
  });

  it("accept each other's session tokens (one WEBUI_SECRET_KEY), and refuse a forged one", async () => {
    const token = await adminToken(a);
    const me = await api<{ email: string; role: string }>(b, '/api/v1/auths/', token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: admin().email, role: 'admin' });
    // Control: a token signed with another key is refused by the same endpoint.
    const [head, body] = token.split('.');
    const forged = await api(b, '/api/v1/auths/', `${head}.${body}.${Buffer.from('not the signature').toString('base64url')}`);
    expect(forged.status).toBe(401);
  });

  it('share settings: an admin setting changed through A is in effect on B', async () => {
    const token = await adminToken(a);
    const before = await api<Record<string, unknown>>(a, '/api/v1/auths/admin/config', token);
    expect(before.status).toBe(200);
    const flipped = !(before.body['ENABLE_MESSAGE_RATING'] as boolean);
    try {
      const set = await api<Record<string, unknown>>(a, '/api/v1/auths/admin/config', token, {
        method: 'POST',
        body: JSON.stringify({ ...before.body, ENABLE_MESSAGE_RATING: flipped }),
      });
      expect(set.status).toBe(200);
      expect(set.body['ENABLE_MESSAGE_RATING']).toBe(flipped);
      const onB = await api<Record<string, unknown>>(b, '/api/v1/auths/admin/config', token);
      expect(onB.body['ENABLE_MESSAGE_RATING'], 'B sees the change made on A').toBe(flipped);
    } finally {
      await api(a, '/api/v1/auths/admin/config', token, { method: 'POST', body: JSON.stringify(before.body) });
    }
  });

  it('share chats: one written through A is read through B', async () => {
    const token = await adminToken(a);
    const title = `written on A ${Date.now()}`;
    const created = await api<{ id: string }>(a, '/api/v1/chats/new', token, {
      method: 'POST',
      body: JSON.stringify({ chat: { title, models: [configuredModels()[0]!.name], messages: [{ role: 'user', content: 'shared?' }] } }),
    });
    expect(created.status).toBe(200);
    const read = await api<{ chat: { title: string } }>(b, `/api/v1/chats/${created.body.id}`, token);
    expect(read.status).toBe(200);
    expect(read.body.chat.title).toBe(title);
    // Control: an id that was never written is not found on B.
    expect((await api(b, '/api/v1/chats/00000000-0000-0000-0000-000000000000', token)).status).not.toBe(200);
  });
});
