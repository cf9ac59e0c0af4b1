// Bad input gets a clear, actionable error.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubectlMissingError, overlayDir, render } from '../../lib/kustomize.ts';
import { cleanCopy } from '../support/clean-copy.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function scratch(kustomization: string): string {
  const d = mkdtempSync(join(tmpdir(), 'kustomize-'));
  dirs.push(d);
  writeFileSync(join(d, 'kustomization.yaml'), kustomization);
  return d;
}

describe('rendering', () => {
  it('says how to get kubectl when it is missing', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await expect(render(scratch('resources: []\n'))).rejects.toThrow(KubectlMissingError);
      await expect(render(scratch('resources: []\n'))).rejects.toThrow(/Install kubectl 1.27 or newer/);
    } finally {
      process.env['PATH'] = path;
    }
  });

  it("names the directory and kustomize's reason for a malformed overlay", async () => {
    const d = scratch('resources:\n  - missing-file.yaml\n');
    await expect(render(d)).rejects.toThrow(new RegExp(`kustomize could not render ${d}[\\s\\S]*missing-file.yaml`));
  });

  it('names the missing env file, and the command that writes it, when a local instance was never given its secrets', async () => {
    const clean = cleanCopy();
    try {
      const d = join(clean, 'manifests/local/production');
      await expect(render(d)).rejects.toThrow(/litellm\.env[\s\S]*\(its env files are made by: npm run secrets -- --overlay production\)/);
    } finally {
      rmSync(clean, { recursive: true, force: true });
    }
  });

  it('lists the overlays that exist when asked for one that does not', () => {
    expect(() => overlayDir('staging')).toThrow(/No overlay "staging".*Overlays: dev, local-cluster, openshift, production/);
  });

  it('points a user of the old kind overlay at local-cluster', () => {
    expect(() => overlayDir('kind')).toThrow(/No overlay "kind": it is now local-cluster .*Moving from the kind overlay/);
  });
});
