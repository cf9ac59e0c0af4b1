// Bad input gets a clear, actionable error.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubectlMissingError, overlayDir, render } from '../../lib/kustomize.ts';

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

  it('names the directory and kustomize\'s reason for a malformed overlay', async () => {
    const d = scratch('resources:\n  - missing-file.yaml\n');
    await expect(render(d)).rejects.toThrow(new RegExp(`kustomize could not render ${d}[\\s\\S]*missing-file.yaml`));
  });

  it('names the missing secrets file when an overlay\'s env file was never generated', async () => {
    const d = scratch('secretGenerator:\n  - name: s\n    envs: [secrets/litellm.env]\n');
    await expect(render(d)).rejects.toThrow(/secrets\/litellm\.env/);
  });

  it('lists the overlays that exist when asked for one that does not', () => {
    expect(() => overlayDir('staging')).toThrow(/No overlay "staging".*Overlays: dev, local-cluster, openshift, production/);
  });

  it('points a user of the old kind overlay at local-cluster', () => {
    expect(() => overlayDir('kind')).toThrow(/No overlay "kind": it is now local-cluster .*Moving from the kind overlay/);
  });
});
