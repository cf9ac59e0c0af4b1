// Every command reads its arguments one way (lib/cli.ts): --help prints the usage and exits 0
// before doing anything; an unknown option, a missing argument or a malformed value says what is
// wrong in one line, then the usage, exit 2, never a stack trace and never work started. The
// commands are read from package.json, so a new one is held to the same.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { REPO_ROOT } from '../../lib/paths.ts';

const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
/** npm script name → the file it runs (`node <file>`), test runners and tsc left out */
const COMMANDS = Object.entries(scripts)
  .map(([name, line]) => [name, /^node (\S+\.ts)$/.exec(line)?.[1]] as const)
  .filter((c): c is readonly [string, string] => c[1] !== undefined);

/** How a user types it: `npm test`, `npm run <name>` for the rest. */
const typed = (name: string) => (name === 'test' ? 'npm test' : `npm run ${name}`);

/** Runs a command file with Node directly (no shell between: nothing of the host's shell set-up in its output). */
async function run(file: string, args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [file, ...args],
      // A command that ignored --help would start its work (a build, a node): the timeout fails it.
      { cwd: REPO_ROOT, timeout: 20_000, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : err.killed ? 'killed (timeout)' : String(err.code);
        resolve({ code, stdout, stderr });
      },
    ),
  );
}

const STACK_TRACE = /^\s+at .+(:\d+:\d+\)?|\(node:)/m;

describe.concurrent('the commands', { timeout: 60_000 }, () => {
  it('are every npm script that runs a file, and all of them are known here', () => {
    expect(COMMANDS.map(([n]) => n).sort()).toEqual([
      'backup',
      'bench',
      'dev:down',
      'dev:up',
      'images:build',
      'model-map',
      'pins:check',
      'restore',
      'secrets',
      'test',
      'test:mirror',
    ]);
  });

  it.each(COMMANDS)('npm run %s -- --help prints the usage and exits 0, starting nothing', async (name, file) => {
    const r = await run(file, ['--help']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^Usage: ${typed(name)}\\b`));
    expect(r.stdout).toMatch(/\n {2}-h, --help +print this usage and exit\n$/);
  });

  it.each(COMMANDS)('npm run %s -- --no-such-option: one line naming it, the usage, exit 2', async (name, file) => {
    const r = await run(file, ['--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const [first, blank, usage] = r.stderr.split('\n');
    expect([first, blank, usage?.startsWith(`Usage: ${typed(name)}`)]).toEqual([
      `${typed(name)}: Unknown option '--no-such-option'`,
      '',
      true,
    ]);
    expect(r.stderr).not.toMatch(STACK_TRACE);
  });

  const BAD: [string, string[], string][] = [
    ['dev/up.ts', ['--port-webui', 'eighty'], 'npm run dev:up: --port-webui "eighty": expected a port from 0 to 65535'],
    ['dev/up.ts', ['--overlay'], "npm run dev:up: Option '--overlay <value>' argument missing"],
    ['dev/up.ts', ['stray'], 'npm run dev:up: unexpected argument "stray"'],
    [
      'dev/bench.ts',
      ['--words', '61'],
      'npm run bench: --words "61": expected a number of words (the fake echoes the prompt, one streamed token per word) from 1 to 60',
    ],
    ['dev/bench.ts', ['--only', 'up,speed'], 'npm run bench: --only up,speed: expected a list of up, forward, load'],
    ['dev/bench.ts', ['--concurrency', '1,x'], 'npm run bench: --concurrency "x": expected a list of stream counts from 1 to 1000'],
    ['dev/bench-forward.ts', ['--streams', '0'], 'node dev/bench-forward.ts: --streams "0": expected a whole number from 1 to 1000'],
    ['ops/backup.ts', [], 'npm run backup: missing --overlay NAME'],
    ['ops/restore.ts', ['--overlay', 'dev'], 'npm run restore: missing ARCHIVE'],
    ['ops/restore.ts', ['a.tar.gz'], 'npm run restore: missing --overlay NAME'],
    ['ops/restore.ts', ['--overlay', 'dev', 'a.tar.gz', 'b.tar.gz'], 'npm run restore: unexpected argument "b.tar.gz"'],
    ['ops/pins-check.ts', ['--strict=yes'], "npm run pins:check: Option '--strict' does not take an argument"],
    ['tests/mirror-run.ts', ['--user'], "npm run test:mirror: Option '--user <value>' argument missing"],
  ];
  it.each(BAD)('%s %j: says what is wrong, the usage, exit 2', async (file, args, says) => {
    const r = await run(file, args);
    expect({ code: r.code, first: r.stderr.split('\n')[0] }).toEqual({ code: 2, first: says });
    expect(r.stderr).toContain('\n\nUsage: ');
    expect(r.stderr).not.toMatch(STACK_TRACE);
  });
});
