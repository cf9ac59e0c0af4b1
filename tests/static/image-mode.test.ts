// The image mode is decided once, by the harness (dev/lib/image-mode.ts), and every test follows
// the stack's: no test hard-codes that a node holds the hermetic images, or picks a mode itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/paths.ts';
import { chooseImageMode, ImageModeError, UPSTREAM_K3S, type ModeEngine } from '../../dev/lib/image-mode.ts';

/** `file:line: text` of every test-code line that sets the image mode by hand. */
function handSetModes(files: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    text.split('\n').forEach((line, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // a comment may say what a run sets
      if (/hermeticImagesLoaded:\s*(true|false)\b/.test(line) || /CHATSTACK_IMAGES['"]?\]?\s*=[^=]/.test(line))
        found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe('the image mode in tests', () => {
  it('is caught when set by hand (positive control)', () => {
    expect(
      handSetModes({
        'a.test.ts':
          "up({ hermeticImagesLoaded: true })\nprocess.env['CHATSTACK_IMAGES'] = 'hermetic';\nok(stack.images.mode === 'hermetic')",
      }),
    ).toEqual(['a.test.ts:1: up({ hermeticImagesLoaded: true })', "a.test.ts:2: process.env['CHATSTACK_IMAGES'] = 'hermetic';"]);
  });

  it('is never set by hand: each test derives it from the stack it runs beside', () => {
    const files = execFileSync(
      'git',
      ['ls-files', '--cached', '--others', '--exclude-standard', '--', 'tests', 'images/*.test.ts', 'images/**/*.test.ts'],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    )
      .split('\n')
      .filter((f) => f.endsWith('.ts') && !f.endsWith('tests/static/image-mode.test.ts'));
    expect(handSetModes(Object.fromEntries(files.map((f) => [f, readFileSync(join(REPO_ROOT, f), 'utf8')])))).toEqual([]);
  });
});

// Messages as Docker Engine 20.10 prints them (the first is this project's CI, with no registry).
const NO_DNS =
  'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host';
const DIAL_TIMEOUT =
  'Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)';
const PULL_LIMIT =
  'Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit';
const NO_TAG = `Error response from daemon: manifest for ${UPSTREAM_K3S} not found: manifest unknown: manifest unknown`;

/** An engine that has `present` and answers every pull with `answer`, recording what was pulled. */
function engine(present: string[], answer: { code: number; stderr: string; timedOut?: boolean }): ModeEngine & { pulled: string[] } {
  const pulled: string[] = [];
  return {
    pulled,
    exists: async (ref) => present.includes(ref),
    pull: async (ref) => {
      pulled.push(ref);
      return { timedOut: false, ...answer };
    },
  };
}

describe('choosing the image mode (once per run: tests/run.ts hands it to every project)', () => {
  it('takes a forced mode as it is, and refuses an unknown one', async () => {
    const e = engine([], { code: 1, stderr: NO_DNS });
    expect(await chooseImageMode({ CHATSTACK_IMAGES: 'upstream' }, undefined, e)).toMatchObject({ mode: 'upstream' });
    expect(await chooseImageMode({ CHATSTACK_IMAGES: 'hermetic' }, undefined, e)).toMatchObject({ mode: 'hermetic' });
    await expect(chooseImageMode({ CHATSTACK_IMAGES: 'local' }, undefined, e)).rejects.toThrow(/upstream, hermetic or auto/);
    expect(e.pulled).toEqual([]);
  });

  it('pulls the node image once when an upstream image is missing, and uses upstream when the pull works', async () => {
    const e = engine([], { code: 0, stderr: '' });
    expect(await chooseImageMode({}, new Set(), e)).toEqual({ mode: 'upstream', reason: `pulled ${UPSTREAM_K3S}` });
    expect(e.pulled).toEqual([UPSTREAM_K3S]);
  });

  it('builds (hermetic) only when no registry answers at all', async () => {
    for (const stderr of [NO_DNS, DIAL_TIMEOUT]) {
      const choice = await chooseImageMode({}, new Set(), engine([], { code: 1, stderr }));
      expect(choice.mode, stderr).toBe('hermetic');
      expect(choice.reason).toContain(stderr);
    }
  });

  it('stops with what to do when a registry answers no, or a pull never finishes: never a silent switch to building', async () => {
    for (const stderr of [PULL_LIMIT, NO_TAG]) {
      const err = await chooseImageMode({}, new Set(), engine([], { code: 1, stderr })).catch((e: unknown) => e);
      expect(err, stderr).toBeInstanceOf(ImageModeError);
      expect((err as Error).message).toContain(stderr);
      expect((err as Error).message).toMatch(/CHATSTACK_IMAGES=upstream .* CHATSTACK_IMAGES=hermetic/);
    }
    await expect(chooseImageMode({}, new Set(), engine([], { code: 1, stderr: '', timedOut: true }))).rejects.toThrow(
      /did not finish within 15 min/,
    );
  });
});
