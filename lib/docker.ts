// The one module that drives the Docker CLI (containers the tests start go through
// Testcontainers). Names say whether a call throws:
//   docker(...)      stdout, or throws DockerError carrying the command's stderr
//   dockerTry(...)   { code, stdout, stderr }, never throws
//   imageInfo(ref)   the local image, or undefined when there is none; throws if the engine fails
import { $ } from 'zx';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class DockerError extends Error {
  readonly code: number;
  readonly stderr: string;
  constructor(args: string[], result: DockerResult) {
    const detail = result.code === 127 ? 'the docker CLI is not installed' : result.stderr || result.stdout || `exit ${result.code}`;
    super(`docker ${args.join(' ')}: ${detail}`);
    this.name = 'DockerError';
    this.code = result.code;
    this.stderr = result.stderr;
  }
}

export class DockerUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `No Docker Engine is reachable (${detail}). As root on Linux, \`bash lib/engine.sh\` installs and starts one ` +
        '(npm test and dev:up run it themselves when they can); otherwise start Docker Desktop or dockerd, ' +
        'or pass --kubeconfig to dev:up to use an existing cluster.',
    );
    this.name = 'DockerUnavailableError';
  }
}

const quiet = $({ quiet: true, nothrow: true });

export async function dockerTry(...args: string[]): Promise<DockerResult> {
  const r = await quiet`docker ${args}`;
  return { code: r.exitCode ?? 1, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

export async function docker(...args: string[]): Promise<string> {
  const r = await dockerTry(...args);
  if (r.code !== 0) throw new DockerError(args, r);
  return r.stdout;
}

/** The engine's version; throws DockerUnavailableError (with the CLI's own reason) when none answers. */
export async function engineVersion(): Promise<string> {
  const r = await quiet`docker info --format ${'{{.ServerVersion}}'}`.timeout('20s');
  if (r.exitCode === 0 && r.stdout.trim()) return r.stdout.trim();
  const why = r.exitCode === 127 ? 'the docker CLI is not installed' : (r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`);
  throw new DockerUnavailableError(why);
}

export interface ImageInfo {
  id: string;
  size: number;
  labels: Record<string, string>;
}

export async function imageInfo(ref: string): Promise<ImageInfo | undefined> {
  const r = await dockerTry('image', 'inspect', '--format', '{{json .}}', ref);
  if (r.code !== 0) {
    if (/no such image/i.test(r.stderr)) return undefined;
    throw new DockerError(['image', 'inspect', ref], r);
  }
  const img = JSON.parse(r.stdout) as { Id: string; Size: number; Config?: { Labels?: Record<string, string> | null } };
  return { id: img.Id, size: img.Size, labels: img.Config?.Labels ?? {} };
}

/** `docker pull --quiet ref`, given up after `timeoutMs` (`timedOut`: a registry that does not answer must not hang a start); never throws. */
export async function tryPull(ref: string, timeoutMs = 60_000): Promise<DockerResult & { timedOut: boolean }> {
  const r = await quiet`docker pull --quiet ${ref}`.timeout(timeoutMs);
  const timedOut = r.exitCode === null;
  return {
    code: r.exitCode ?? 1,
    stdout: r.stdout.trim(),
    stderr: r.stderr.trim() || (timedOut ? `no answer within ${timeoutMs / 1000} s` : ''),
    timedOut,
  };
}

/** An image's declared run-time contract (`docker image inspect`'s Config). */
export interface ImageConfig {
  User?: string;
  WorkingDir?: string;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[] | null;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown> | null;
  StopSignal?: string;
}

export async function imageConfig(ref: string): Promise<ImageConfig> {
  return JSON.parse(await docker('image', 'inspect', '--format', '{{json .Config}}', ref)) as ImageConfig;
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await imageInfo(ref)) !== undefined;
}

/** The engine's platform (`linux/amd64`), and whether its `docker save` takes `--platform` (API 1.48, Docker 28). */
export interface EnginePlatform {
  platform: string;
  savePlatform: boolean;
}

let platform: Promise<EnginePlatform> | undefined;
export function enginePlatform(): Promise<EnginePlatform> {
  platform ??= docker('version', '--format', '{{.Server.Os}}/{{.Server.Arch}} {{.Server.APIVersion}}').then((out) => {
    const [p, api] = out.split(' ');
    const [major, minor] = (api ?? '0.0').split('.').map(Number);
    return { platform: p!, savePlatform: major! > 1 || (major === 1 && minor! >= 48) };
  });
  return platform;
}

/**
 * `docker save ref | docker exec -i container cmd...`: streams an image into a container, no file.
 * Only the engine's platform is saved where the engine can say so: with Docker's containerd image
 * store a pulled multi-platform image holds the other platforms' manifests but not their layers,
 * and a save of all of them fails (`content digest ... not found`, kubernetes-sigs/kind#3795).
 */
export async function saveInto(ref: string, container: string, cmd: string[]): Promise<void> {
  try {
    const { platform: p, savePlatform } = await enginePlatform();
    const save = $({ quiet: true })`docker save ${savePlatform ? ['--platform', p] : []} ${ref}`;
    await Promise.all([save, save.pipe($({ quiet: true })`docker exec -i ${container} ${cmd}`)]);
  } catch (err) {
    const e = err as { exitCode?: number; stderr?: string; message?: string };
    throw new Error(
      `docker save ${ref} | docker exec -i ${container.slice(0, 12)} ${cmd.join(' ')} failed (exit ${e.exitCode}): ${(e.stderr ?? e.message ?? '').trim()}`,
    );
  }
}

/** Removes containers (and their anonymous volumes) carrying a label; returns their ids. */
export async function removeContainers(label: string): Promise<string[]> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${label}`)).split('\n').filter(Boolean);
  for (const id of ids) await docker('rm', '-f', '-v', id);
  return ids;
}
