// Open WebUI in a real browser (system Chromium through Playwright), through the same port-forward
// `npm run dev:up` prints: the page loads, the headless admin signs in, a chat streams its reply,
// and after more than Open WebUI's 5 s keep-alive timeout of idling the page still reloads and
// answers clicks (a kept-alive connection the server closed must not hang the page). Fails on any
// console error, uncaught exception, failed request or 4xx/5xx response the app makes.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { admin, stack } from '../support/live.ts';
import { channelsDisabled, reportChatErrors, signInThroughForm, useBrowserSessions } from '../support/open-webui-page.ts';

/** Longer than Open WebUI's (uvicorn's) 5 s keep-alive timeout. */
const IDLE_MS = 7_000;
/** What one step may take before the test calls it a hang (a step normally takes < 2 s). */
const STEP_MS = 30_000;

describe('Open WebUI in a browser through the port-forward', () => {
  const browser = useBrowserSessions();

  it('loads, signs in, chats, and still reloads and responds after idling past the keep-alive timeout', { timeout: 240_000 }, async () => {
    const session = await browser.open('open-webui-flow', { baseURL: stack.urls.openWebui, allowed: { response: channelsDisabled } });
    const { page } = session;
    page.setDefaultTimeout(STEP_MS);
    reportChatErrors(session);

    // page load: not signed in, so the app sends us to its sign-in form; then the chat page (on a
    // first sign-in under a fresh database, the release notes on top, dismissed)
    await signInThroughForm(page, admin());
    const input = page.locator('#chat-input');

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
