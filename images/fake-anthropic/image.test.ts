// The fake upstream's image: one Dockerfile (fake-anthropic/Dockerfile) that both image modes
// build, on the official Node image (upstream) or on images/node, its hermetic stand-in.
import { lstat, readFile, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dockerTry } from '../../lib/docker.ts';
import { ensureImage } from '../factory/build.ts';
import { loadRecipes } from '../factory/recipes.ts';
import { publicBaseRefusal, publicBases } from '../factory/public-base.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

interface ImageJson {
  name: string;
  dependsOn: string[];
  inputs: Record<string, string | number>;
}
const json = async (name: string) => JSON.parse(await readFile(path.join(repo, 'images', name, 'image.json'), 'utf8')) as ImageJson;

describe('images/fake-anthropic', () => {
  it('is fake-anthropic/ itself: Dockerfile, package.json and src/ are relative symlinks, so the recipe hash follows the code', async () => {
    for (const entry of ['Dockerfile', 'package.json', 'src']) {
      const link = path.join(here, entry);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      expect(path.isAbsolute(await readlink(link))).toBe(false);
      expect(await realpath(link)).toBe(await realpath(path.join(repo, 'fake-anthropic', entry)));
    }
  });

  it("builds on the official Node image of node_modules' Node version, images/node standing in for it in hermetic mode", async () => {
    const nodePkg = JSON.parse(await readFile(path.join(repo, 'node_modules/node/package.json'), 'utf8')) as { version: string };
    const node = await json('node');
    expect(node.inputs['node']).toBe(nodePkg.version);
    expect(node.inputs['upstream']).toBe(`node:${nodePkg.version}-bookworm-slim`);
    expect((await json('fake-anthropic')).dependsOn).toEqual(['node']);
    const dockerfile = await readFile(path.join(repo, 'fake-anthropic/Dockerfile'), 'utf8');
    expect(publicBases(dockerfile)).toEqual({ NODE_IMAGE: node.inputs['upstream'] });
  });

  it('is buildable on public bases alone, which a compiled recipe is not (control)', async () => {
    const recipes = await loadRecipes();
    expect(await publicBaseRefusal(recipes.get('fake-anthropic')!)).toBeUndefined();
    expect(await publicBaseRefusal(recipes.get('k3s')!)).toMatch(/prepare\.sh/);
    expect(() => publicBases('ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n')).toThrow(/ARG BASE_IMAGE has no default/);
  });

  it('runs as the declared non-root UID on the declared port', async () => {
    const { inputs } = await json('fake-anthropic');
    const dockerfile = await readFile(path.join(repo, 'fake-anthropic/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^USER ${inputs['uid']}:${inputs['uid']}$`, 'm'));
    expect(Number(inputs['uid'])).toBeGreaterThan(0);
    expect(dockerfile).toMatch(new RegExp(`PORT=${inputs['port']}\\b`));
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${inputs['port']}$`, 'm'));
  });

  it('refuses to start without its key, naming it (the sources load in the image)', async () => {
    const { ref } = await ensureImage('fake-anthropic');
    const run = await dockerTry('run', '--rm', '--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges', ref);
    expect(run.code).toBe(2);
    expect(run.stderr + run.stdout).toContain('FAKE_ANTHROPIC_API_KEY');
  });
});
