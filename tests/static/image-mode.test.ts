// The image mode is decided once, by the harness (dev/lib/image-mode.ts), and every test follows
// the stack's: no test hard-codes that a node holds the hermetic images, or picks a mode itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/paths.ts';

/** `file:line: text` of every test-code line that sets the image mode by hand. */
function handSetModes(files: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of Object.entries(files)) {
    text.split('\n').forEach((line, i) => {
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
