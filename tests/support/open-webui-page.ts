// Open WebUI as a person meets it in the browser: the sign-in form, the release notes it shows
// on a first sign-in, the 403 its sidebar provokes when channels are off, and what a failed
// browser test leaves behind.
import type { Page, Response } from 'playwright-core';
import { afterEach, beforeAll, type TestContext } from 'vitest';
import type { Credentials } from './open-webui.ts';
import { findChromium, openBrowser, type BrowserSession } from './browser.ts';

/**
 * Open WebUI reports a failed chat inside the page, over HTTP 200: the error reaches the browser
 * as a socket.io event (`chat:message:error`, or an `error` in a completion event) and is shown
 * in place of the reply. Recorded as a problem of the session, like a console error.
 */
export function reportChatErrors(session: BrowserSession): void {
  session.page.on('websocket', (socket) =>
    socket.on('framereceived', (frame) => {
      const text = String(frame.payload);
      if (!text.startsWith('42') || !/"error"/.test(text)) return;
      let event: unknown;
      try {
        event = JSON.parse(text.slice(text.indexOf('[')));
      } catch {
        return;
      }
      const data = (Array.isArray(event) ? event[1] : undefined) as
        { data?: { type?: string; data?: { error?: { content?: unknown } | string } } } | undefined;
      const error = data?.data?.data?.error;
      if (data?.data?.type === 'chat:message:error' || error) {
        session.problems.push(
          `the app showed an error in the chat: ${typeof error === 'object' ? String(error?.content ?? JSON.stringify(error)) : String(error)}`,
        );
      }
    }),
  );
}

/**
 * Sends `prompt` from the chat input and waits for `reply` on the page, or fails as soon as the
 * session has recorded a problem (the app's own error in the chat among them) or after `ms`.
 */
export async function sendAndAwaitReply(session: BrowserSession, prompt: string, reply: string, ms = 30_000): Promise<void> {
  const { page } = session;
  await page.locator('#chat-input').click();
  await page.keyboard.type(prompt);
  await page.keyboard.press('Enter');
  await page.getByText(prompt).first().waitFor({ state: 'visible' });
  const deadline = Date.now() + ms;
  while (!(await page.getByText(reply).first().isVisible())) {
    if (session.problems.length > 0)
      throw new Error(`no reply; the browser saw ${session.problems.length} problem(s):\n  ${session.problems.join('\n  ')}`);
    if (Date.now() > deadline) throw new Error(`no reply "${reply}" within ${ms} ms, and no error either`);
    await page.waitForTimeout(250);
  }
}

/** From the app's root, unsigned: it sends us to its form; sign in there and wait for the chat input. */
export async function signInThroughForm(page: Page, creds: Credentials): Promise<void> {
  await page.goto('/');
  await page.waitForURL(/\/auth/);
  await page.locator('input[type="email"]').fill(creds.email);
  await page.locator('input[type="password"]').fill(creds.password);
  await page.locator('button[type="submit"]').click();
  await page.locator('#chat-input').waitFor({ state: 'visible' });
  await dismissReleaseNotes(page);
}

/**
 * The overlays leave Open WebUI's channels feature off; its sidebar still asks for the channel
 * list after a reload, and the server answers 403 "Channels is disabled". The app's own
 * behaviour, with nothing missing on the page: allowed, and only that exact answer.
 */
export async function channelsDisabled(res: Response): Promise<boolean> {
  if (res.status() !== 403 || res.request().method() !== 'GET' || new URL(res.url()).pathname !== '/api/v1/channels/') return false;
  return /Channels is disabled/.test(await res.text());
}

/** Open WebUI shows its release notes over the chat on a user's first sign-in to a version. */
export async function dismissReleaseNotes(page: Page): Promise<void> {
  const ok = page.getByRole('button', { name: /Okay, Let's Go!/i });
  // It opens once the user's settings have loaded, a moment after the chat page appears.
  if (
    await ok.waitFor({ state: 'visible', timeout: 5_000 }).then(
      () => true,
      () => false,
    )
  )
    await ok.click();
}

/**
 * For afterEach: closes the session and, when the test failed, adds to its error what the
 * browser saw before the failing step and where the screenshot and trace were saved.
 */
export async function closeSession(session: BrowserSession | undefined, ctx: TestContext): Promise<void> {
  if (!session) return;
  const saved = await session.close(ctx.task.result?.state === 'fail');
  const err = ctx.task.result?.errors?.[0];
  if (!err) return;
  if (session.problems.length && !err.message.includes('problem(s)'))
    err.message += `\nthe browser also saw:\n  ${session.problems.join('\n  ')}`;
  if (saved.length) err.message += `\n(screenshot and Playwright trace: ${saved.join(', ')})`;
}

/**
 * The hooks a describe of browser tests needs: Chromium found (or installed) first, and each
 * test's session closed after it, with its screenshot and trace when it failed.
 */
export function useBrowserSessions(): {
  open(name: string, opts: Parameters<typeof openBrowser>[1]): Promise<BrowserSession>;
  closeNow(): Promise<void>;
} {
  let session: BrowserSession | undefined;
  // A one-time install of Debian's chromium when it is missing takes a minute or two.
  beforeAll(async () => void (await findChromium((l) => console.log(l))), 600_000);
  afterEach(async (ctx) => {
    const current = session;
    session = undefined;
    await closeSession(current, ctx);
  });
  return {
    open: async (name, opts) => (session = await openBrowser(name, opts)),
    closeNow: async () => {
      const current = session;
      session = undefined;
      await current?.close(false);
    },
  };
}
