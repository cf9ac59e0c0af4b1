// ensureEngine: with an engine up it changes nothing; without one, a user who may not start it
// (not root) gets a message that says what to do. Starting one as root is proven by every CI
// run: .ci/run stops the engine, then checks that `npm test` started it (`engine: started Docker`).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canBootstrapEngine, ensureEngine } from '../lib/engine.ts';
import { REPO_ROOT } from '../lib/paths.ts';

const NOBODY = 65534;

describe('ensureEngine', () => {
  it("returns the running engine's version and starts nothing when one answers", async () => {
    const lines: string[] = [];
    expect(await ensureEngine((l) => lines.push(l))).toMatch(/^\d+\.\d+/);
    expect(lines).toEqual([]);
  });

  it('as a user who may not start an engine, and with none reachable, says what to do', () => {
    // The same code in a fresh process as nobody (root drops to it with setpriv), pointed at a
    // socket where no engine listens.
    const script = `import('${path.join(REPO_ROOT, 'lib/engine.ts')}').then((m) => m.ensureEngine()).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); });`;
    const node = [process.execPath, '--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script];
    const asNobody = process.getuid?.() === 0 ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...node] : node;
    const r = spawnSync(asNobody[0]!, asNobody.slice(1), {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'], DOCKER_HOST: 'unix:///nonexistent/docker.sock', HOME: '/tmp' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/No Docker Engine is reachable \(.+\)/);
    expect(r.stderr).toMatch(/As root on Linux, `bash lib\/engine\.sh` installs and starts one/);
    expect(r.stderr).toMatch(/pass --kubeconfig/);
    expect(r.stderr).not.toMatch(/starting one/);
  });

  it('starts an engine only as root on Linux, on the local socket', () => {
    const root = process.getuid?.() === 0 && process.platform === 'linux';
    expect(canBootstrapEngine({})).toEqual(
      root ? { ok: true, why: 'root on Linux' } : { ok: false, why: expect.stringMatching(/not root|not Linux/) },
    );
    expect(canBootstrapEngine({ DOCKER_HOST: 'unix:///var/run/docker.sock' }).ok).toBe(root);
    // Another engine is never started in its place, even as root.
    if (root)
      expect(canBootstrapEngine({ DOCKER_HOST: 'tcp://10.0.0.1:2376' })).toEqual({
        ok: false,
        why: 'DOCKER_HOST=tcp://10.0.0.1:2376 names another engine',
      });
    else expect(canBootstrapEngine({ DOCKER_HOST: 'tcp://10.0.0.1:2376' }).ok).toBe(false);
  });
});
