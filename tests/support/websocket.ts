// Open WebUI's websocket as its frontend uses it (socket.io, websocket transport, the session token),
// for the tests that check events travel between replicas through Redis.
import { io, type Socket } from 'socket.io-client';

/** A socket.io client of Open WebUI at `base`, signed in with `token`, sending `origin`; connected. */
export async function connectSocket(base: string, token: string, origin: string): Promise<Socket> {
  const socket = io(base, {
    path: '/ws/socket.io',
    transports: ['websocket'],
    auth: { token },
    extraHeaders: { origin },
    reconnection: false,
    timeout: 10_000,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
  } catch (err) {
    socket.disconnect();
    throw err;
  }
  return socket;
}

/** Joins the chat's room; Open WebUI acknowledges with true. */
export const joinChat = async (s: Socket, chatId: string): Promise<unknown> =>
  s.timeout(10_000).emitWithAck('events:chat', { chat_id: chatId, data: { type: 'join' } });

/** Resolves with the next `events` message of type `type` for the chat, or undefined after `ms`. */
export function nextEvent(s: Socket, chatId: string, type: string, ms = 5_000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('events', on);
      resolve(undefined);
    }, ms);
    const on = (e: { chat_id?: string; data?: { type?: string } }) => {
      if (e.chat_id !== chatId || e.data?.type !== type) return;
      clearTimeout(timer);
      s.off('events', on);
      resolve(e as Record<string, unknown>);
    };
    s.on('events', on);
  });
}
