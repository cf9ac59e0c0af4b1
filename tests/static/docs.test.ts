// The documentation's relative links lead somewhere: the README is short and sends readers on to
// docs/, images/ and the changelog, so a renamed heading or a moved file would otherwise leave a
// dead link that nothing notices. Every link and link reference in the markdown files resolves to
// a file or directory of the checkout, and an anchor into a markdown file names one of its
// headings as GitHub slugs them. The checker is shown to catch a broken file and a broken anchor
// first. The README also stays a few screens long.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../../lib/paths.ts';

/** The lines of a markdown text outside its fenced code blocks (``` or ~~~). */
function outsideFences(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined) {
      if (marker) fence = marker;
      else lines.push(line);
    } else if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) {
      fence = undefined;
    }
  }
  return lines;
}

/** GitHub's anchor for a heading: lowercase, only letters, digits, spaces, hyphens and underscores kept, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'); // a link in a heading: its text
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown file's (ATX) headings; a repeated slug gets -1, -2, ... as on GitHub. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of outsideFences(markdown)) {
    const h = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of the given markdown files (paths from root) that leads nowhere, one line each. */
function brokenLinks(root: string, files: string[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const path = join(root, file);
    const targets: string[] = [];
    for (const text of outsideFences(readFileSync(path, 'utf8'))) {
      const line = text.replace(/(`+).*?\1/g, ''); // inline code is not a link
      for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) targets.push(m[1]!);
      const ref = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(line);
      if (ref) targets.push(ref[1]!);
    }
    for (const target of targets) {
      if (/^(https?|mailto):/i.test(target)) continue;
      const [pathPart = '', anchor] = target.split('#', 2) as [string, string | undefined];
      const dest =
        pathPart === ''
          ? path
          : pathPart.startsWith('/')
            ? join(root, decodeURIComponent(pathPart))
            : resolve(dirname(path), decodeURIComponent(pathPart));
      if (!existsSync(dest)) {
        problems.push(`${file}: ${target}: no such file or directory (${relative(root, dest)})`);
        continue;
      }
      if (anchor === undefined || anchor === '' || !statSync(dest).isFile() || !dest.endsWith('.md')) continue;
      if (!anchors(readFileSync(dest, 'utf8')).has(decodeURIComponent(anchor))) {
        problems.push(`${file}: ${target}: ${relative(root, dest)} has no heading #${anchor}`);
      }
    }
  }
  return problems;
}

/** Tracked markdown files, and new ones not yet committed (untracked, not ignored). */
function markdownFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '*.md'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return [...new Set(out.split('\0').filter((f) => f !== '' && existsSync(join(REPO_ROOT, f))))];
}

describe('the documentation links', () => {
  it('catches a link to a missing file and an anchor to a missing heading (positive control)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-links-'));
    try {
      writeFileSync(
        join(dir, 'b.md'),
        '# Real heading\n\n## Real heading\n\n## Images: upstream or hermetic\n\n```\n# not a heading\n```\n',
      );
      writeFileSync(
        join(dir, 'a.md'),
        [
          '# A',
          '[fine](b.md) and [fine too](b.md#real-heading), [the repeat](b.md#real-heading-1), [punctuation](b.md#images-upstream-or-hermetic),',
          '[here](#a), [a directory](.), [the web](https://example.com/missing.md), [mail](mailto:someone@example.com).',
          '[broken file](missing.md) and [broken anchor](b.md#no-such-heading); `[in code](nowhere.md)` is code.',
          '```md',
          '[fenced](also-nowhere.md)',
          '```',
          '[ref]: b.md#real-heading',
        ].join('\n'),
      );
      expect(brokenLinks(dir, ['a.md'])).toEqual([
        'a.md: missing.md: no such file or directory (missing.md)',
        'a.md: b.md#no-such-heading: b.md has no heading #no-such-heading',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('slugs headings as GitHub does', () => {
    expect(slug('The local-cluster overlay (k3s, k3d, kind)')).toBe('the-local-cluster-overlay-k3s-k3d-kind');
    expect(slug('Images: upstream or hermetic')).toBe('images-upstream-or-hermetic');
    expect(slug('`npm test` with everything_built')).toBe('npm-test-with-everything_built');
  });

  it('all resolve in every markdown file of the checkout', () => {
    const files = markdownFiles();
    expect(files).toContain('README.md');
    expect(brokenLinks(REPO_ROOT, files)).toEqual([]);
  });
});

describe('the README', () => {
  const lines = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n');
  it('is under 250 lines', () => {
    expect(lines.length).toBeLessThan(250);
  });
  it('has no line over 200 characters', () => {
    expect(lines.map((l, i) => ({ line: i + 1, length: l.length })).filter((l) => l.length > 200)).toEqual([]);
  });
});
