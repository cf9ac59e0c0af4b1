// A reachable Docker Engine, made so when it can be: where none answers and this process is root
// on Linux, lib/engine.sh (installs docker.io if needed, adds the runc wrapper these machines need
// for privileged containers, starts dockerd) runs as a printed step; anywhere else the error says
// what to do.
import path from 'node:path';
import { DockerUnavailableError, engineVersion } from './docker.ts';
import { runToLog } from './logged.ts';
import { BUILD_DIR } from './paths.ts';
import { secondsSince } from './time.ts';

export const ENGINE_SCRIPT = path.resolve(import.meta.dirname, 'engine.sh');
export const ENGINE_LOG = path.join(BUILD_DIR, 'engine-bootstrap.log');

/** Whether this process may start an engine itself: root on Linux, talking to the local socket. */
export function canBootstrapEngine(env: NodeJS.ProcessEnv = process.env): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `not Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, why: 'not root' };
  const host = env['DOCKER_HOST'];
  if (host && !['unix:///var/run/docker.sock', 'unix:///run/docker.sock'].includes(host))
    return { ok: false, why: `DOCKER_HOST=${host} names another engine` };
  return { ok: true, why: 'root on Linux' };
}

/** The engine's version, after starting one with lib/engine.sh where no engine answers and that is possible. */
export async function ensureEngine(log: (line: string) => void = (l) => console.log(l)): Promise<string> {
  try {
    return await engineVersion();
  } catch (err) {
    if (!(err instanceof DockerUnavailableError)) throw err;
    const can = canBootstrapEngine();
    if (!can.ok) throw err;
    const t0 = Date.now();
    log(`engine: no Docker Engine answers; starting one: bash ${path.relative(process.cwd(), ENGINE_SCRIPT)} (log: ${ENGINE_LOG})`);
    await runToLog('bash', [ENGINE_SCRIPT], ENGINE_LOG);
    const version = await engineVersion();
    log(`engine: started Docker ${version} in ${secondsSince(t0)} s`);
    return version;
  }
}
