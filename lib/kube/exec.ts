// The one exec helper (the `kubectl exec` path): a command in a container, its stdin fed from a
// stream, stdout and stderr collected or handed on, the exit code from the status frame.
//
// It returns when the API server closes the socket, the protocol's own end of stream: no frame can
// arrive after it. The status frame alone does not mark the end: client-node ends the output
// streams when it arrives, but an API server that translates the kubelet's streams copies each
// channel on its own, so a last stdout or stderr frame may follow the status.
import { Writable, type Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { apiMessage } from './config.ts';

export interface ExecOptions {
  /** fed to the command's stdin (never closed by the protocol: the command must know its length) */
  stdin?: Readable;
  /** receives stdout (ended at the end of stream); without it stdout is collected into the result */
  stdout?: Writable;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  /** collected stdout ('' when `stdout` was given) */
  stdout: string;
  stderr: string;
  /** the status frame's message on failure */
  message: string;
}

/** One channel's frames; ended at the socket's close, not at the status frame (see the header). */
class Channel extends Writable {
  private readonly onFrame: (chunk: Buffer) => void;
  constructor(onFrame: (chunk: Buffer) => void) {
    super();
    this.onFrame = onFrame;
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: () => void): void {
    this.onFrame(chunk);
    cb();
  }
  /** client-node's end at the status frame: ignored. */
  override end(): this {
    return this;
  }
  finish(): void {
    super.end();
  }
}

/** Runs `command` in a container; resolves with its exit code and output once the stream has ended. */
export async function exec(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new Channel((c) => (opts.stdout ? opts.stdout.write(c) : out.push(c)));
  const stderr = new Channel((c) => err.push(c));
  let status: k8s.V1Status | undefined;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const what = `exec ${command[0]} in ${namespace}/${pod}/${container}`;
  const socket = await new k8s.Exec(kc)
    .exec(namespace, pod, container, command, stdout, stderr, opts.stdin ?? null, false, (s) => (status = s))
    .catch((e: unknown) => {
      throw new Error(`${what} failed: ${apiMessage(e)}`);
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`${what}: no end of stream in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  stdout.finish();
  stderr.finish();
  opts.stdout?.end();
  if (!status) throw new Error(`${what}: the connection closed without the command's status`);
  const exitCode = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
  return {
    code: status.status === 'Success' ? 0 : Number(exitCode ?? 1),
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    message: status.status === 'Success' ? '' : (status.message ?? ''),
  };
}
