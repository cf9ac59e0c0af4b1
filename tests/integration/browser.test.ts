// Open WebUI in a real browser (system Chromium through Playwright), through the same port-forward
// `npm run dev:up` prints: the page loads, the headless admin signs in, a chat streams its reply,
// and after more than Open WebUI's 5 s keep-alive timeout of idling the page still reloads and
// answers clicks (a kept-alive connection the server closed must not hang the page). Fails on any
// console error, uncaught exception, failed request or 4xx/5xx response the app makes.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { admin, stack } from '../support/live.ts';
import type { Page, Response } from 'playwright-core';
import { findChromium, openBrowser, type BrowserSession } from '../support/browser.ts';

/** Longer than Open WebUI's (uvicorn's) 5 s keep-alive timeout. */
const IDLE_MS = 7_000;
/** What one step may take before the test calls it a hang (a step normally takes < 2 s). */
const STEP_MS = 30_000;

describe('Open WebUI in a browser through the port-forward', () => {
  let session: BrowserSession | undefined;

  beforeAll(async () => {
    // A one-time install of Debian's chromium when it is missing takes a minute or two.
    await findChromium((l) => console.log(l));
  }, 600_000);

  afterEach(async (ctx) => {
    if (!session) return;
    const failed = ctx.task.result?.state === 'fail';
    const current = session;
    session = undefined;
    const saved = await current.close(failed);
    const err = ctx.task.result?.errors?.[0];
    if (!err) return;
    // what the browser saw before the step that failed
    if (current.problems.length && !err.message.includes('problem(s)')) err.message += `\nthe browser also saw:\n  ${current.problems.join('\n  ')}`;
    if (saved.length) err.message += `\n(screenshot and Playwright trace: ${saved.join(', ')})`;
  });

  it('loads, signs in, chats, and still reloads and responds after idling past the keep-alive timeout', { timeout: 240_000 }, async () => {
    session = await openBrowser('open-webui-flow', { baseURL: stack.urls.openWebui, allowed: { response: channelsDisabled } });
    const { page } = session;
    page.setDefaultTimeout(STEP_MS);

    // page load: not signed in, so the app sends us to its sign-in form
    await page.goto('/');
    await page.waitForURL(/\/auth/);
    const { email, password } = admin();
    await page.locator('input[type="email"]').fill(email);
    await page.locator('input[type="password"]').fill(password);
    await page.locator('button[type="submit"]').click();

    // signed in: the chat page (on a first sign-in under a fresh database, the release notes on top)
    const input = page.locator('#chat-input');
    await input.waitFor({ state: 'visible' });
    await dismissReleaseNotes(page);

    // a chat: the fake upstream echoes the prompt, streamed back through LiteLLM and Open WebUI
    const chat = async (prompt: string) => {
      await input.click();
      await page.keyboard.type(prompt);
      await page.keyboard.press('Enter');
      await page.getByText(`Echo: ${prompt}`).first().waitFor({ state: 'visible' });
    };
    const first = `browser-${randomBytes(4).toString('hex')} hello there`;
    await chat(first);
    await page.waitForURL(/\/c\/[\w-]+/);
    const chatUrl = page.url();

    // idle past the server's keep-alive timeout, then reload: every request must be answered
    await page.waitForTimeout(IDLE_MS);
    await page.reload();
    expect(page.url()).toBe(chatUrl);
    await page.getByText(`Echo: ${first}`).first().waitFor({ state: 'visible' });
    await input.waitFor({ state: 'visible' });

    // idle again, then click: a new chat, and a second chat in it
    await page.waitForTimeout(IDLE_MS);
    await page.getByRole('link', { name: 'New Chat' }).click();
    await page.waitForURL((u) => u.pathname === '/');
    await chat(`browser-${randomBytes(4).toString('hex')} again`);

    await session.assertNoProblems();
  });
});

/**
 * The dev overlay leaves Open WebUI's channels feature off; 0.12.4's sidebar still asks for the
 * channel list after a reload, and the server answers 403 "Channels is disabled". The app's own
 * behaviour, with nothing missing on the page: allowed, and only that exact answer.
 */
async function channelsDisabled(res: Response): Promise<boolean> {
  if (res.status() !== 403 || res.request().method() !== 'GET' || new URL(res.url()).pathname !== '/api/v1/channels/') return false;
  return /Channels is disabled/.test(await res.text());
}

/** Open WebUI shows its release notes over the chat on a user's first sign-in to a version. */
async function dismissReleaseNotes(page: Page): Promise<void> {
  const ok = page.getByRole('button', { name: /Okay, Let's Go!/i });
  // It opens once the user's settings have loaded, a moment after the chat page appears.
  if (await ok.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false)) await ok.click();
}
