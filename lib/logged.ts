// Set-up steps that take a while and whose output only matters when they fail (installing
// Docker, installing Chromium): their output goes to a log file, and a failure names it and
// quotes its last lines.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Runs `cmd args` with its output appended to `logFile` (apt-get non-interactive); throws on failure. */
export async function runToLog(cmd: string, args: string[], logFile: string): Promise<void> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const code = await new Promise<number | string>((resolve) => {
    const out = createWriteStream(logFile, { flags: 'a' });
    out.write(`\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', (err) => out.end(() => resolve(err.message)));
    child.on('close', (c) => out.end(() => resolve(c ?? 'killed')));
  });
  if (code === 0) return;
  const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
  throw new Error(
    `${cmd} ${args.join(' ')} failed (${typeof code === 'number' ? `exit ${code}` : code}); last lines of ${logFile}:\n${tail}`,
  );
}
