// The fake-anthropic recipe stays consistent with what it packages (no Docker needed).
import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

interface ImageJson {
  name: string;
  tag: string;
  dependsOn: string[];
  inputs: { node: string; uid: number; port: number };
}

describe('images/fake-anthropic', () => {
  it('pins the Node version that node_modules provides', async () => {
    const json = JSON.parse(await readFile(path.join(here, 'image.json'), 'utf8')) as ImageJson;
    const nodePkg = JSON.parse(await readFile(path.join(repo, 'node_modules/node/package.json'), 'utf8')) as { version: string };
    expect(json).toMatchObject({ name: 'fake-anthropic', dependsOn: ['base'] });
    expect(json.inputs.node).toBe(nodePkg.version);
  });

  it('packages every source through a symlink, so the recipe hash follows them', async () => {
    const sources = (await readdir(path.join(repo, 'fake-anthropic/src'))).filter((f) => f.endsWith('.ts')).sort();
    const packaged = (await readdir(path.join(here, 'app'))).filter((f) => f.endsWith('.ts')).sort();
    expect(sources).toContain('main.ts');
    expect(packaged).toEqual(sources);
    for (const file of sources) {
      const link = path.join(here, 'app', file);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      expect(path.isAbsolute(await readlink(link))).toBe(false);
      expect(await realpath(link)).toBe(await realpath(path.join(repo, 'fake-anthropic/src', file)));
    }
  });

  it('runs as the declared non-root UID on the declared port', async () => {
    const json = JSON.parse(await readFile(path.join(here, 'image.json'), 'utf8')) as ImageJson;
    const dockerfile = await readFile(path.join(here, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE$/m);
    expect(dockerfile).toMatch(/^FROM \$\{BASE_IMAGE\}$/m);
    expect(dockerfile).toMatch(new RegExp(`^USER ${json.inputs.uid}:${json.inputs.uid}$`, 'm'));
    expect(json.inputs.uid).toBeGreaterThan(0);
    expect(dockerfile).toMatch(new RegExp(`PORT=${json.inputs.port}\\b`));
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${json.inputs.port}$`, 'm'));
  });
});
