// Open WebUI's websocket (socket.io, websocket transport as its frontend uses it) with two
// replicas: it connects through the Service from the public origin (no 403) and refuses another
// origin; an event sent by a client on one replica reaches a client on the other (Redis carries
// it between them) as well as one on the same replica (the control).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { connectSocket, joinChat, nextEvent } from '../support/websocket.ts';
import { adminToken, stack } from '../support/live.ts';
import { api } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { type Forward } from '../../lib/kube/port-forward.ts';
import { closeAll, forwardEachPod } from '../support/replicas.ts';
import { PUBLIC_ORIGIN } from '../support/production-setup.ts';

let forwards: Forward[] = [];
const sockets: Socket[] = [];

/** A client of Open WebUI, kept for closing at the end. */
async function connect(base: string, token: string, origin = PUBLIC_ORIGIN): Promise<Socket> {
  const socket = await connectSocket(base, token, origin);
  sockets.push(socket);
  return socket;
}

beforeAll(async () => {
  forwards = await forwardEachPod('open-webui', 2);
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await closeAll(forwards);
});

describe('the websocket with two replicas', { timeout: 60_000 }, () => {
  it('connects through the Service from the public origin, and refuses another origin', async () => {
    const token = await adminToken();
    const ok = await connect(stack.urls.openWebui, token);
    expect(ok.connected).toBe(true);
    await expect(connect(stack.urls.openWebui, token, 'https://evil.example')).rejects.toThrow(
      /websocket error|403|Unexpected server response/i,
    );
  });

  it('carries an event from a client on one replica to clients on both', async () => {
    const token = await adminToken();
    const created = await api<{ id: string }>(stack.urls.openWebui, '/api/v1/chats/new', token, {
      method: 'POST',
      body: JSON.stringify({ chat: { title: `websocket ${Date.now()}`, models: [configuredModels()[0]!.name], messages: [] } }),
    });
    expect(created.status).toBe(200);
    const chatId = created.body.id;
    const [a, b] = forwards.map((f) => f.url) as [string, string];
    const sender = await connect(a, token);
    const sameReplica = await connect(a, token);
    const otherReplica = await connect(b, token);
    for (const s of [sender, sameReplica, otherReplica]) expect(await joinChat(s, chatId)).toBe(true);

    const seen = [nextEvent(sameReplica, chatId, 'typing'), nextEvent(otherReplica, chatId, 'typing')];
    expect(
      await sender.timeout(10_000).emitWithAck('events:chat', { chat_id: chatId, data: { type: 'typing', data: { typing: true } } }),
    ).toBe(true);
    const [onA, onB] = await Promise.all(seen);
    expect(onA, 'the client on the same replica (control)').toMatchObject({
      chat_id: chatId,
      shared: true,
      data: { type: 'typing', data: { typing: true } },
    });
    expect(onB, 'the client on the other replica, through Redis').toMatchObject({
      chat_id: chatId,
      shared: true,
      data: { type: 'typing', data: { typing: true } },
    });
  });
});
