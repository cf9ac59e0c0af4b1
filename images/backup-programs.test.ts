// The programs backup and restore run in Open WebUI's pod (ops/lib/in-pod/*.py), run here in the
// Open WebUI image as its pod runs them: UID 10000, read-only root, /tmp a tmpfs, the data
// directory a mounted volume. Each takes one JSON argument and answers with a JSON line; every
// refusal leaves the live data as it was.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureImage } from './factory/build.ts';
import { REPO_ROOT } from '../lib/paths.ts';

const UID = 10000;
const PROGRAMS = join(REPO_ROOT, 'ops/lib/in-pod');
let image: string;
let root: string;

/** Runs `python3 <program> <json>` in the image with `dir` as the data volume; stdin optional. */
function run(program: string, args: object, dir: string, stdin?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(
    'docker',
    [
      'run',
      '--rm',
      '-i',
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--user',
      `${UID}:${UID}`,
      '--network',
      'none',
      '-v',
      `${dir}:/data`,
      '-v',
      `${PROGRAMS}:/programs:ro`,
      '--entrypoint',
      'python3',
      image,
      `/programs/${program}`,
      JSON.stringify({ data: '/data', ...args }),
    ],
    { input: stdin ?? Buffer.alloc(0), maxBuffer: 64 << 20 },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** A data directory as Open WebUI leaves it: webui.db with an alembic revision and a table, uploads/. */
function dataDir(name: string, note: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'uploads'), { recursive: true });
  writeFileSync(join(dir, 'uploads', 'doc.txt'), `upload of ${note}\n`);
  const made = spawnSync('docker', [
    'run',
    '--rm',
    '-v',
    `${dir}:/data`,
    '--entrypoint',
    'python3',
    image,
    '-c',
    `import sqlite3; db = sqlite3.connect('/data/webui.db'); db.execute('create table alembic_version (version_num text)'); db.execute("insert into alembic_version values ('rev123')"); db.execute('create table note (t text)'); db.execute("insert into note values ('${note}')"); db.commit()`,
  ]);
  if (made.status !== 0) throw new Error(made.stderr.toString());
  for (const p of [dir, join(dir, 'uploads'), join(dir, 'uploads', 'doc.txt'), join(dir, 'webui.db')]) chownSync(p, UID, UID);
  return dir;
}

async function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => (h.type === 'file' && files.set(h.name, Buffer.concat(chunks)), next()));
  });
  await new Promise<void>((resolve, reject) => (extract.on('finish', resolve), extract.on('error', reject), extract.end(bytes)));
  return files;
}

async function pack(files: Record<string, Buffer>): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o600 }, body);
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const manifestOf = (files: Record<string, Buffer>) =>
  Object.entries(files).map(([path, b]) => ({ path, bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') }));
const lastJson = (text: string) => JSON.parse(text.trim().split('\n').at(-1)!) as Record<string, unknown>;
const note = (dir: string) =>
  spawnSync('docker', [
    'run',
    '--rm',
    '-v',
    `${dir}:/data:ro`,
    '--entrypoint',
    'python3',
    image,
    '-c',
    "import sqlite3; print(sqlite3.connect('file:/data/webui.db?mode=ro', uri=True).execute('select t from note').fetchone()[0])",
  ])
    .stdout.toString()
    .trim();

beforeAll(async () => {
  image = (await ensureImage('open-webui')).ref;
  root = mkdtempSync(join(tmpdir(), 'in-pod-'));
}, 600_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('backup.py', { timeout: 60_000 }, () => {
  it('writes a tar of the database (a checked online copy) and the uploads, and says the schema revision', async () => {
    const dir = dataDir('backup', 'before');
    const r = run('backup.py', { database: 'sqlite' }, dir);
    expect(r.code, r.stderr).toBe(0);
    const files = await untar(r.stdout);
    expect([...files.keys()].sort()).toEqual(['data/uploads/doc.txt', 'data/webui.db']);
    expect(files.get('data/uploads/doc.txt')!.toString()).toBe('upload of before\n');
    expect(files.get('data/webui.db')!.subarray(0, 15).toString()).toBe('SQLite format 3');
    expect(lastJson(r.stderr)).toEqual({ schema: 'rev123' });
    expect(readdirSync(dir).sort()).toEqual(['uploads', 'webui.db']); // nothing left behind
  });

  it('with Postgres holding the database, copies the uploads only', async () => {
    const r = run('backup.py', { database: 'postgres' }, dataDir('backup-pg', 'x'));
    expect(r.code, r.stderr).toBe(0);
    expect([...(await untar(r.stdout)).keys()]).toEqual(['data/uploads/doc.txt']);
    expect(lastJson(r.stderr)).toEqual({ schema: null });
  });
});

describe('restore.py', { timeout: 60_000 }, () => {
  let archive: Record<string, Buffer>;
  beforeAll(async () => {
    const backedUp = run('backup.py', { database: 'sqlite' }, dataDir('source', 'restored'));
    archive = Object.fromEntries(await untar(backedUp.stdout));
  });

  it('stages, checks and swaps the files in, keeping the replaced data beside', async () => {
    const dir = dataDir('restore', 'live');
    const body = await pack(archive);
    const r = run(
      'restore.py',
      { files: manifestOf(archive), stamp: 's1', size: body.length, steps: ['stage', 'swap'], names: ['webui.db', 'uploads'] },
      dir,
      body,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout.toString())).toEqual({ kept: '/data/.pre-restore-s1' });
    expect(note(dir)).toBe('restored');
    expect(readFileSync(join(dir, 'uploads/doc.txt'), 'utf8')).toBe('upload of restored\n');
    expect(readFileSync(join(dir, '.pre-restore-s1/uploads/doc.txt'), 'utf8')).toBe('upload of live\n');
    expect(existsSync(join(dir, '.restore-staging'))).toBe(false);
  });

  // Each case: the tar sent (the manifest is always the archive's), and the size announced.
  const refusals: [string, (a: Record<string, Buffer>) => Promise<{ body: Buffer; size?: number }>, RegExp][] = [
    [
      'a file that does not match the manifest',
      async (a) => ({ body: await pack({ ...a, 'data/uploads/doc.txt': Buffer.from('tampered\n') }) }),
      /staged data\/uploads\/doc\.txt does not match/,
    ],
    [
      'a member outside data/',
      async (a) => ({ body: await pack({ ...a, 'etc/passwd': Buffer.from('x') }) }),
      /refusing archive member 'etc\/passwd'/,
    ],
    [
      'a stream shorter than announced',
      async (a) => {
        const body = await pack(a);
        return { body: body.subarray(0, 1024), size: body.length };
      },
      /the archive stream ended after 1024 of \d+ bytes/,
    ],
  ];
  it.each(refusals)('refuses %s and leaves the live data as it was', async (_what, make, says) => {
    const dir = dataDir(`refuse-${Math.random().toString(36).slice(2, 8)}`, 'live');
    const { body, size } = await make(archive);
    const r = run(
      'restore.py',
      { files: manifestOf(archive), stamp: 's2', size: size ?? body.length, steps: ['stage', 'swap'], names: ['webui.db', 'uploads'] },
      dir,
      body,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(says);
    expect(note(dir)).toBe('live');
    expect(readdirSync(dir).sort()).toEqual(['uploads', 'webui.db']);
  });
});
