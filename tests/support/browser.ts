// A real browser for live tests: Playwright driving the system's Chromium (Playwright's own
// browser builds cannot be downloaded on the project's machines; Debian's `chromium` package can).
// A CA to trust (the gateway's local CA) goes into an NSS database in the browser's own HOME,
// where Chromium on Linux reads trust from: TLS is verified, not skipped.
// The session records what a user would notice and a test should fail on: console errors,
// uncaught exceptions, failed requests and 4xx/5xx responses; a failed test leaves a screenshot
// and a Playwright trace (`npx playwright show-trace FILE`) in test-results/.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runToLog } from '../../lib/logged.ts';
import { chromium, type Browser, type BrowserContext, type Page, type Request, type Response } from 'playwright-core';

const run = promisify(execFile);
export const RESULTS_DIR = join(fileURLToPath(new URL('../..', import.meta.url)), 'test-results');
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function debianLike(): boolean {
  if (!existsSync('/etc/os-release')) return false;
  const text = readFileSync('/etc/os-release', 'utf8');
  const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
  return /\b(debian|ubuntu)\b/.test(`${field('ID')} ${field('ID_LIKE')}`) && executable('/usr/bin/apt-get');
}

/**
 * The Chromium to drive: $CHATSTACK_CHROMIUM, else the system's. Where there is none and this
 * process is root on Debian/Ubuntu, installs Debian's `chromium` with apt-get; otherwise fails
 * saying how to get one.
 */
export async function findChromium(log: (line: string) => void = (l) => console.log(l)): Promise<string> {
  const override = process.env['CHATSTACK_CHROMIUM'];
  if (override) {
    if (!executable(override)) throw new Error(`CHATSTACK_CHROMIUM=${override} is not an executable file.`);
    return override;
  }
  const found = CANDIDATES.find(executable);
  if (found) return found;
  const root = process.getuid?.() === 0;
  if (!root || !debianLike()) {
    throw new Error(
      `No Chromium found (looked for ${CANDIDATES.join(', ')}). The browser tests drive the system's Chromium ` +
        "(Playwright's own browser downloads are not used). Install it — Debian/Ubuntu: `sudo apt-get install chromium` " +
        '(Ubuntu: `chromium-browser`) — or point CHATSTACK_CHROMIUM at a Chromium or Chrome executable.',
    );
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logFile = join(RESULTS_DIR, 'chromium-install.log');
  log(`browser: no Chromium found; installing Debian's chromium with apt-get (log: ${logFile})`);
  const t0 = Date.now();
  await runToLog('apt-get', ['update'], logFile);
  await runToLog('apt-get', ['install', '-y', 'chromium'], logFile);
  const installed = CANDIDATES.find(executable);
  if (!installed) throw new Error(`apt-get installed chromium but none of ${CANDIDATES.join(', ')} exists; see ${logFile}`);
  const { stdout } = await run(installed, ['--version']).catch(() => ({ stdout: '(version unknown)' }));
  log(`browser: installed ${stdout.trim()} in ${Math.round((Date.now() - t0) / 1000)} s`);
  return installed;
}

/** NSS's certutil ($CHATSTACK_CERTUTIL, else on PATH); root on Debian/Ubuntu gets libnss3-tools installed. */
async function findCertutil(log: (line: string) => void): Promise<string> {
  const override = process.env['CHATSTACK_CERTUTIL'];
  if (override) return override;
  const candidates = ['/usr/bin/certutil', '/usr/local/bin/certutil'];
  const found = candidates.find(executable);
  if (found) return found;
  if (process.getuid?.() !== 0 || !debianLike()) {
    throw new Error(
      'NSS certutil not found: the browser tests trust their local CA through an NSS database. Install it — Debian/Ubuntu: `sudo apt-get install libnss3-tools`, Fedora: `nss-tools` — or point CHATSTACK_CERTUTIL at it.',
    );
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const logFile = join(RESULTS_DIR, 'certutil-install.log');
  log(`browser: no certutil; installing Debian's libnss3-tools with apt-get (log: ${logFile})`);
  await runToLog('apt-get', ['install', '-y', 'libnss3-tools'], logFile).catch(async () => {
    await runToLog('apt-get', ['update'], logFile);
    await runToLog('apt-get', ['install', '-y', 'libnss3-tools'], logFile);
  });
  const installed = candidates.find(executable);
  if (!installed) throw new Error(`apt-get installed libnss3-tools but no certutil is at ${candidates.join(', ')}; see ${logFile}`);
  return installed;
}

/** A HOME whose NSS database (~/.pki/nssdb) trusts `caPem` for TLS servers; Chromium reads it from there. */
async function homeTrusting(caPem: string, log: (line: string) => void): Promise<string> {
  const certutil = await findCertutil(log);
  const home = mkdtempSync(join(tmpdir(), 'chatstack-browser-home-'));
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  writeFileSync(join(home, 'ca.crt'), caPem);
  await run(certutil, ['-d', `sql:${db}`, '-N', '--empty-password']);
  await run(certutil, ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'chat-stack test CA', '-i', join(home, 'ca.crt')]);
  return home;
}

export interface Allowed {
  /** Responses with status >= 400 that are part of the app's normal behaviour. */
  response?: (res: Response) => boolean | Promise<boolean>;
  /** Console errors that are part of the app's normal behaviour. */
  console?: (text: string) => boolean;
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Everything recorded so far that a user would notice as broken. */
  problems: string[];
  /** Fails (throws) when anything was recorded. */
  assertNoProblems(): Promise<void>;
  /** Closes the browser; when `failed`, first saves a screenshot and the trace to test-results/. */
  close(failed: boolean): Promise<string[]>;
}

export async function openBrowser(
  name: string,
  opts: { baseURL: string; allowed?: Allowed; log?: (line: string) => void; trustCa?: string },
): Promise<BrowserSession> {
  const executablePath = await findChromium(opts.log);
  const home = opts.trustCa ? await homeTrusting(opts.trustCa, opts.log ?? ((l) => console.log(l))) : undefined;
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Containers often have a 64 MB /dev/shm, too small for Chromium's shared memory.
    args: ['--disable-dev-shm-usage'],
    ...(home ? { env: { ...process.env, HOME: home } as Record<string, string> } : {}),
  });
  if (home) browser.on('disconnected', () => rmSync(home, { recursive: true, force: true }));
  const context = await browser.newContext({ baseURL: opts.baseURL, viewport: { width: 1280, height: 900 } });
  await context.tracing.start({ screenshots: true, snapshots: true });
  const page = await context.newPage();
  const problems: string[] = [];
  const allowed = opts.allowed ?? {};

  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium logs every 4xx/5xx response as a console error too; those are judged below, by
    // the response itself.
    if (/^Failed to load resource: the server responded with a status of \d{3}/.test(text)) return;
    if (allowed.console?.(text)) return;
    problems.push(`console error: ${text} (${msg.location().url || 'no location'})`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception: ${err.message}`));
  const judging: Promise<void>[] = [];
  page.on('response', (res) => {
    if (res.status() < 400) return;
    const judged = Promise.resolve(allowed.response?.(res) ?? false).then(
      (ok) => {
        if (!ok) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
      },
      (err: unknown) => {
        problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()} (not judged: ${(err as Error).message})`);
      },
    );
    judging.push(judged);
  });
  page.on('requestfailed', (req: Request) => {
    const why = req.failure()?.errorText ?? 'unknown';
    // A navigation (the reload) cancels the old page's requests still in flight, its
    // long-lived socket.io connection among them: the browser's doing, not a failure.
    if (why === 'net::ERR_ABORTED') return;
    problems.push(`request failed (${why}): ${req.method()} ${req.url()}`);
  });

  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 100);
  return {
    browser,
    context,
    page,
    problems,
    async assertNoProblems() {
      await Promise.all(judging);
      if (problems.length > 0) throw new Error(`the browser saw ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    },
    async close(failed) {
      const saved: string[] = [];
      if (failed) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        const shot = join(RESULTS_DIR, `browser-${safe}.png`);
        const trace = join(RESULTS_DIR, `browser-${safe}-trace.zip`);
        if (await screenshot(context, page, shot)) saved.push(shot);
        if (
          await context.tracing.stop({ path: trace }).then(
            () => true,
            () => false,
          )
        )
          saved.push(trace);
      } else {
        await context.tracing.stop().catch(() => undefined);
      }
      await browser.close();
      return saved;
    },
  };
}

/**
 * What is on screen now. Playwright's page.screenshot waits for a pending navigation to settle,
 * and a navigation that hangs is just what a failure here may be; the DevTools protocol's capture
 * does not wait.
 */
async function screenshot(context: BrowserContext, page: Page, path: string): Promise<boolean> {
  const capture = async () => {
    const cdp = await context.newCDPSession(page);
    const { data } = await cdp.send('Page.captureScreenshot', { format: 'png' });
    writeFileSync(path, Buffer.from(data, 'base64'));
    await cdp.detach().catch(() => undefined);
  };
  let timer: NodeJS.Timeout | undefined;
  const bounded = Promise.race([
    capture(),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), 10_000))),
  ]);
  return bounded
    .then(
      () => true,
      () =>
        page.screenshot({ path, timeout: 10_000 }).then(
          () => true,
          () => false,
        ),
    )
    .finally(() => clearTimeout(timer));
}
