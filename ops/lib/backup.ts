// Backup and restore of what a user would lose: Open WebUI's SQLite database (a consistent online
// copy through SQLite's backup API, never a raw copy of a file being written) and its uploads.
// With the in-cluster Postgres of production-selfhosted: pg_dump of the database instead.
// The archive is one gzipped tar, self-describing: manifest.json first (format, versions, overlay,
// namespace, each file's size and sha256), then data/webui.db or data/openwebui.dump, and
// data/uploads/...
// Restore checks everything before touching the stack, stages the files on the volume, checks them
// again there, and only then swaps them in (the previous data is kept beside, and put back if the
// swap fails), so a failed restore leaves the previous data in place.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync } from 'node:zlib';
import * as k8s from '@kubernetes/client-node';
import * as tar from 'tar-stream';
import { apiMessage } from '../../lib/kube/config.ts';
import { isPodReady, listPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';

export const BACKUP_FORMAT = 'chat-stack-backup/1';
const DATA_DIR = '/app/backend/data';
const APP = 'open-webui';

export interface BackupFile {
  /** path inside the archive, under data/ (data/webui.db, data/uploads/...) */
  path: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  createdAt: string;
  overlay: string;
  namespace: string;
  openWebui: { image: string; version: string; schemaRevision: string };
  litellm?: { image: string };
  /** sqlite: data/webui.db; postgres: data/openwebui.dump (pg_dump's custom format) of the in-cluster Postgres */
  database: 'sqlite' | 'postgres';
  files: BackupFile[];
}

export class BackupError extends Error {}

// ---- in the pod: Python, which the Open WebUI image has (no sqlite3 CLI there)
const BACKUP_PY = `
import os, sqlite3, sys, tarfile
data, with_db = sys.argv[1], sys.argv[2] == "sqlite"
tmp = "/tmp/chatstack-backup-%d.db" % os.getpid()
try:
  if with_db:
    src = sqlite3.connect("file:%s/webui.db?mode=ro" % data, uri=True)
    dst = sqlite3.connect(tmp)
    src.backup(dst)  # consistent while Open WebUI keeps writing
    ok = dst.execute("pragma integrity_check").fetchone()[0]
    rev = dst.execute("select version_num from alembic_version").fetchone()[0]
    dst.close(); src.close()
    if ok != "ok":
        sys.exit("the copy fails SQLite's integrity check: %s" % ok)
    sys.stderr.write("schema %s\\n" % rev)
  with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as t:
    if with_db:
        t.add(tmp, arcname="data/webui.db")
    if os.path.isdir(data + "/uploads"):
        t.add(data + "/uploads", arcname="data/uploads")
finally:
    if os.path.exists(tmp):
        os.remove(tmp)
`;

// Steps on Open WebUI's volume, in a pod that mounts it (argv: data dir, manifest JSON, stamp,
// byte count of the tar on stdin, steps, names to swap):
//   stage:   read exactly that many bytes of a tar of data/... into <data>/.restore-staging and
//            check every file against the manifest (and SQLite's integrity check)
//   swap:    the live names move to <data>/.pre-restore-<stamp>, the staged ones into place; a
//            failure mid-way moves everything back
//   discard: drop the staging directory
const RESTORE_PY = `
import hashlib, json, os, shutil, sqlite3, sys, tarfile
data, manifest, stamp, size, steps, names = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].split(","), sys.argv[6].split(",")
stage = os.path.join(data, ".restore-staging")
keep = os.path.join(data, ".pre-restore-" + stamp)
if "discard" in steps:
    shutil.rmtree(stage, ignore_errors=True)
if "stage" in steps:
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    try:
        # Exactly size bytes: the exec's stdin is never closed, so EOF cannot mark the end.
        received = os.path.join(stage, "received.tar")
        with open(received, "wb") as out:
            left = size
            while left:
                block = sys.stdin.buffer.read1(min(left, 1 << 20))
                if not block:
                    sys.exit("the archive stream ended after %d of %d bytes" % (size - left, size))
                out.write(block)
                left -= len(block)
        with tarfile.open(received) as t:
            for m in t.getmembers():  # only plain files and directories under data/, whatever the Python
                if not (m.isfile() or m.isdir()) or not m.name.startswith("data/") or ".." in m.name.split("/"):
                    sys.exit("refusing archive member %r" % m.name)
            t.extractall(stage, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        os.remove(received)
        want = {f["path"]: f for f in manifest["files"]}
        got = {}
        for root, _dirs, files in os.walk(stage):
            for name in files:
                p = os.path.join(root, name)
                h = hashlib.sha256()
                with open(p, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                got[os.path.relpath(p, stage)] = (os.path.getsize(p), h.hexdigest())
        for path, f in want.items():
            if got.get(path) != (f["bytes"], f["sha256"]):
                sys.exit("staged %s does not match the archive's manifest" % path)
        if set(got) - set(want):
            sys.exit("unexpected staged files: %s" % sorted(set(got) - set(want)))
        if os.path.exists(os.path.join(stage, "data/webui.db")):
            db = sqlite3.connect(os.path.join(stage, "data/webui.db"))
            ok = db.execute("pragma integrity_check").fetchone()[0]
            db.close()
            if ok != "ok":
                sys.exit("the staged database fails SQLite's integrity check: %s" % ok)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
if "swap" in steps:
    # SQLite's -wal and -shm belong to the live database: they go with it.
    live = names + (["webui.db-wal", "webui.db-shm"] if "webui.db" in names else [])
    moved, placed = [], []
    try:
        os.makedirs(keep)
        for name in live:
            if os.path.lexists(os.path.join(data, name)):
                os.rename(os.path.join(data, name), os.path.join(keep, name)); moved.append(name)
        for name in names:
            src = os.path.join(stage, "data", name)
            if os.path.lexists(src):
                os.rename(src, os.path.join(data, name)); placed.append(name)
        if "uploads" not in placed:
            os.makedirs(os.path.join(data, "uploads"))
    except BaseException:
        for name in placed:
            os.rename(os.path.join(data, name), os.path.join(stage, "data", name))
        for name in moved:
            os.rename(os.path.join(keep, name), os.path.join(data, name))
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print("restored; the previous data is in " + keep)
`;

/** Runs `command` in a container, feeding `stdin` and handing stdout to `stdout`; rejects on a non-zero exit with its stderr. */
async function execStreams(kc: k8s.KubeConfig, namespace: string, pod: string, container: string, command: string[], io: { stdin?: Readable; stdout?: Writable; timeoutMs: number }): Promise<string> {
  const err: Buffer[] = [];
  const stderr = new Writable({ write: (c: Buffer, _e, cb) => (err.push(c), cb()) });
  const stdout = io.stdout ?? new Writable({ write: (_c, _e, cb) => cb() });
  return await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BackupError(`${command[0]} in ${pod} gave no answer in ${io.timeoutMs / 1000} s`)), io.timeoutMs);
    new k8s.Exec(kc)
      .exec(namespace, pod, container, command, stdout, stderr, io.stdin ?? null, false, (status) => {
        clearTimeout(timer);
        const text = () => Buffer.concat(err).toString('utf8').trim();
        // The status frame can overtake the last stderr frames.
        setTimeout(() => (status.status === 'Success' ? resolve(text()) : reject(new BackupError(`in ${pod}: ${text().split('\n').slice(-3).join(' | ') || status.message}`))), 100);
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(new BackupError(`exec in ${pod} failed: ${apiMessage(e)}`));
      });
  });
}

const versionOf = (image: string) => /:v?(\d+\.\d+\.\d+)/.exec(image)?.[1] ?? 'unknown';
const compareVersions = (a: string, b: string) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

interface Target {
  deployment: k8s.V1Deployment;
  container: k8s.V1Container;
  claim: string;
  database: 'sqlite' | 'postgres';
  /** with Postgres: the in-cluster Postgres pod (pg_dump, pg_restore and psql run there) */
  postgresPod?: string;
}

/** Open WebUI's Deployment in `namespace`, refused clearly when it is not one this tool can back up. */
async function openWebuiOf(kc: k8s.KubeConfig, namespace: string): Promise<Target> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const deployment = await apps.readNamespacedDeployment({ name: APP, namespace }).catch((e: unknown) => {
    throw new BackupError(`no Deployment ${APP} in namespace ${namespace}: ${apiMessage(e)}`);
  });
  const spec = deployment.spec!.template.spec!;
  const container = spec.containers.find((c) => c.name === APP)!;
  let postgresPod: string | undefined;
  if (container.env?.some((e) => e.name === 'DATABASE_URL')) {
    const pod = (await listPods(kc, namespace, 'app.kubernetes.io/name=postgres')).find((p) => isPodReady(p) && !p.metadata?.deletionTimestamp);
    if (!pod) {
      throw new BackupError(`${namespace}/${APP} keeps its data in a database outside the namespace (DATABASE_URL, no Ready in-cluster postgres pod): back that database up with its provider's tools or pg_dump; this tool covers SQLite and the in-cluster Postgres`);
    }
    postgresPod = pod.metadata!.name!;
  }
  const claim = spec.volumes?.find((v) => v.name === container.volumeMounts?.find((m) => m.mountPath === DATA_DIR)?.name)?.persistentVolumeClaim?.claimName;
  if (!claim) throw new BackupError(`${namespace}/${APP} mounts no PersistentVolumeClaim at ${DATA_DIR}: nothing to back up`);
  return { deployment, container, claim, database: postgresPod ? 'postgres' : 'sqlite', postgresPod };
}

const PG_DUMP = 'data/openwebui.dump';

/** pg_dump (custom format) through the Postgres pod's stdout, checked against the size and sha256 the pod reports at the end. */
async function pgDump(kc: k8s.KubeConfig, namespace: string, pod: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
  // No room on the pod for a copy (its /tmp is small): stream it, and let tee feed sha256sum.
  const script = '{ pg_dump --format=custom --no-owner --no-privileges; echo "pg_dump exit $?" >&2; } | { tee /dev/fd/3 | sha256sum >&2; } 3>&1';
  const said = await execStreams(kc, namespace, pod, 'postgres', ['sh', '-c', script], { stdout, timeoutMs: 1_800_000 });
  if (!/pg_dump exit 0/.test(said)) throw new BackupError(`pg_dump in ${pod} failed: ${said}`);
  const want = /([0-9a-f]{64})\s+-/.exec(said)?.[1];
  // Stdout frames may still be arriving after the status frame.
  const body = await waitUntil('the whole dump received', async () => {
    const b = Buffer.concat(chunks);
    return sha256().update(b).digest('hex') === want ? b : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100 }).catch(() => {
    throw new BackupError(`the dump from ${pod} arrived incomplete (${Buffer.concat(chunks).length} bytes, sha256 differs from the pod's ${want})`);
  });
  return body;
}

const psql = async (kc: k8s.KubeConfig, namespace: string, pod: string, sql: string): Promise<string> => {
  const out: Buffer[] = [];
  await execStreams(kc, namespace, pod, 'postgres', ['psql', '-Atc', sql], { stdout: new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }), timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 100));
  return Buffer.concat(out).toString('utf8').trim();
};

async function readyPodOf(kc: k8s.KubeConfig, namespace: string): Promise<string> {
  const pod = (await listPods(kc, namespace, `app.kubernetes.io/name=${APP}`)).find((p) => isPodReady(p) && !p.metadata?.deletionTimestamp);
  if (!pod) throw new BackupError(`no Ready ${APP} pod in ${namespace}: the backup copies from the running app`);
  return pod.metadata!.name!;
}

const sha256 = () => createHash('sha256');

/** Writes the archive: manifest.json first, then the files, gzipped. */
async function writeArchive(out: string, manifest: BackupManifest, files: Map<string, Buffer>): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as Readable, createGzip(), createWriteStream(`${out}.partial`, { mode: 0o600 }));
  pack.entry({ name: 'manifest.json', mode: 0o600 }, JSON.stringify(manifest, null, 2));
  for (const f of manifest.files) pack.entry({ name: f.path, mode: 0o600 }, files.get(f.path)!);
  pack.finalize();
  await done;
  renameSync(`${out}.partial`, out); // never a half-written archive under the final name
}

export interface BackupResult {
  file: string;
  bytes: number;
  manifest: BackupManifest;
  seconds: number;
}

/** Backs up the running stack in `namespace` into `outDir`; the stack keeps serving meanwhile. */
export async function backup(kc: k8s.KubeConfig, opts: { namespace: string; overlay: string; outDir: string; log: (l: string) => void }): Promise<BackupResult> {
  const t0 = Date.now();
  const target = await openWebuiOf(kc, opts.namespace);
  const { container } = target;
  const pod = await readyPodOf(kc, opts.namespace);
  opts.log(`backup: copying ${target.database === 'sqlite' ? 'the database (SQLite backup API) and ' : ''}the uploads from ${opts.namespace}/${pod}`);
  const files = new Map<string, Buffer>();
  const entries: BackupFile[] = [];
  const extract = tar.extract();
  const extracted = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') {
          const body = Buffer.concat(chunks);
          files.set(header.name, body);
          entries.push({ path: header.name, bytes: body.length, sha256: sha256().update(body).digest('hex') });
        }
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const stdout = new PassThrough();
  stdout.pipe(extract as unknown as Writable); // tar-stream's streams are streamx, pipe-compatible
  const stderr = await execStreams(kc, opts.namespace, pod, container.name, ['python3', '-c', BACKUP_PY, DATA_DIR, target.database], { stdout, timeoutMs: 600_000 });
  await extracted;
  let schemaRevision = /schema (\S+)/.exec(stderr)?.[1] ?? 'unknown';
  if (target.postgresPod) {
    opts.log(`backup: pg_dump of the database in ${opts.namespace}/${target.postgresPod}`);
    const dump = await pgDump(kc, opts.namespace, target.postgresPod);
    files.set(PG_DUMP, dump);
    entries.push({ path: PG_DUMP, bytes: dump.length, sha256: sha256().update(dump).digest('hex') });
    schemaRevision = (await psql(kc, opts.namespace, target.postgresPod, 'select version_num from alembic_version')) || 'unknown';
  }
  if (!files.has(target.database === 'sqlite' ? 'data/webui.db' : PG_DUMP)) throw new BackupError('the copy holds no database');
  const litellm = await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'litellm', namespace: opts.namespace }).catch(() => undefined);
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    createdAt: new Date().toISOString(),
    overlay: opts.overlay,
    namespace: opts.namespace,
    openWebui: { image: container.image!, version: versionOf(container.image!), schemaRevision },
    litellm: litellm ? { image: litellm.spec!.template.spec!.containers[0]!.image! } : undefined,
    database: target.database,
    files: entries.sort((a, b) => a.path.localeCompare(b.path)),
  };
  mkdirSync(opts.outDir, { recursive: true });
  const file = join(opts.outDir, `chat-stack-${opts.overlay}-${manifest.createdAt.replace(/[:.]/g, '-')}.tar.gz`);
  await writeArchive(file, manifest, files);
  const bytes = statSync(file).size;
  return { file, bytes, manifest, seconds: (Date.now() - t0) / 1000 };
}

/** Reads and checks a whole archive before anything is touched: format, manifest, every file's size and sha256. */
export async function readArchive(file: string): Promise<{ manifest: BackupManifest; files: Map<string, Buffer> }> {
  const name = basename(file);
  let manifest: BackupManifest | undefined;
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      if (header.name === 'manifest.json') {
        try {
          manifest = JSON.parse(body.toString('utf8')) as BackupManifest;
        } catch {
          return next(new BackupError(`${name}: its manifest.json is not JSON`));
        }
      } else if (!manifest) {
        return next(new BackupError(`${name}: not a chat-stack backup (manifest.json must come first, found ${header.name})`));
      } else if (header.type === 'file') {
        files.set(header.name, body);
      }
      next();
    });
  });
  // Whole in memory, no zlib stream: a truncated file is one synchronous gunzip error, never a
  // stream error emitted after the reader has given up.
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError(`${file}: no such file`);
    throw new BackupError(`${file}: cannot read it (${(e as Error).message})`);
  }
  let tarBytes: Buffer;
  try {
    tarBytes = gunzipSync(raw);
  } catch (e) {
    throw new BackupError(`${name}: truncated or not a gzipped tar (${(e as Error).message})`);
  }
  try {
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', () => resolve());
      extract.on('error', reject);
      extract.end(tarBytes);
    });
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${name}: truncated or not a tar inside the gzip (${(e as Error).message})`);
  }
  if (!manifest) throw new BackupError(`${name}: not a chat-stack backup (no manifest.json)`);
  if (manifest.format !== BACKUP_FORMAT) throw new BackupError(`${name}: format ${JSON.stringify(manifest.format)}, this tool reads ${BACKUP_FORMAT}`);
  if (!['sqlite', 'postgres'].includes(manifest.database) || !Array.isArray(manifest.files)) throw new BackupError(`${name}: its manifest lacks the database or the file list`);
  for (const f of manifest.files) {
    if (!/^data\/(webui\.db|openwebui\.dump|uploads\/.+)$/.test(f.path) || f.path.split('/').includes('..')) throw new BackupError(`${name}: the manifest names a file outside data/: ${f.path}`);
    const body = files.get(f.path);
    if (!body) throw new BackupError(`${name}: ${f.path} is in the manifest but not in the archive (truncated?)`);
    if (body.length !== f.bytes || sha256().update(body).digest('hex') !== f.sha256) throw new BackupError(`${name}: ${f.path} does not match its checksum in the manifest (tampered or damaged)`);
  }
  const extra = [...files.keys()].filter((p) => !manifest!.files.some((f) => f.path === p));
  if (extra.length) throw new BackupError(`${name}: files not in the manifest: ${extra.join(', ')} (tampered?)`);
  const db = manifest.database === 'sqlite' ? 'data/webui.db' : PG_DUMP;
  if (!files.has(db)) throw new BackupError(`${name}: holds no ${db}`);
  return { manifest, files };
}

async function scaleTo(kc: k8s.KubeConfig, namespace: string, replicas: number): Promise<void> {
  await kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDeploymentScale(
    { name: APP, namespace, body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

export interface RestoreResult {
  seconds: number;
  kept: string;
}

/**
 * Restores an archive into the stack in `namespace`: refuses a wrong, damaged or tampered archive
 * and a newer Open WebUI than the stack runs before touching anything; then stops Open WebUI,
 * swaps the data on its volume through a short-lived pod, and starts it again.
 */
export async function restore(kc: k8s.KubeConfig, opts: { namespace: string; archive: string; log: (l: string) => void }): Promise<RestoreResult> {
  const t0 = Date.now();
  const { manifest, files } = await readArchive(opts.archive);
  const { deployment, container, claim, database, postgresPod } = await openWebuiOf(kc, opts.namespace);
  if (manifest.database !== database) {
    throw new BackupError(`${basename(opts.archive)} holds a ${manifest.database} database and ${opts.namespace} runs on ${database}: restore it into a stack of the same kind (moving between them is a migration, not a restore)`);
  }
  const running = versionOf(container.image!);
  if (manifest.openWebui.version === 'unknown' || running === 'unknown' || compareVersions(manifest.openWebui.version, running) > 0) {
    throw new BackupError(`cannot restore a backup of Open WebUI ${manifest.openWebui.version} into ${running} (${container.image}): its database may carry migrations this release does not know; restore into ${manifest.openWebui.version} or newer`);
  }
  opts.log(`restore: ${basename(opts.archive)} (Open WebUI ${manifest.openWebui.version}, ${manifest.files.length} files) into ${opts.namespace}, running ${running}`);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const replicas = deployment.spec?.replicas ?? 1;
  const podName = `${APP}-restore`;
  const template = deployment.spec!.template.spec!;
  await core.deleteNamespacedPod({ name: podName, namespace: opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  opts.log(`restore: stopping ${APP} (scale ${replicas} -> 0) so nothing writes meanwhile`);
  await scaleTo(kc, opts.namespace, 0);
  let kept = '';
  try {
    await waitUntil(`${APP} pods gone`, async () => ((await listPods(kc, opts.namespace, `app.kubernetes.io/name=${APP}`)).length === 0 ? true : undefined), { timeoutMs: 180_000, intervalMs: 1000 });
    await core.createNamespacedPod({
      namespace: opts.namespace,
      body: {
        metadata: { name: podName, labels: { 'app.kubernetes.io/name': podName, 'app.kubernetes.io/part-of': 'chat-stack-restore' } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: template.securityContext,
          containers: [
            {
              name: 'restore',
              image: container.image,
              imagePullPolicy: container.imagePullPolicy,
              command: ['sleep', '3600'],
              securityContext: container.securityContext,
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } },
              volumeMounts: [
                { name: 'data', mountPath: DATA_DIR },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'data', persistentVolumeClaim: { claimName: claim } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    });
    await waitUntil(`pod ${podName} running`, async () => ((await core.readNamespacedPod({ name: podName, namespace: opts.namespace })).status?.phase === 'Running' ? true : undefined), { timeoutMs: 120_000, intervalMs: 1000 });
    // The files that live on the volume (the SQLite database and the uploads; never the dump).
    const onVolume = manifest.files.filter((f) => f.path !== PG_DUMP);
    const pack = tar.pack();
    const packed: Buffer[] = [];
    pack.on('data', (c: unknown) => packed.push(c as Buffer));
    const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
    for (const f of onVolume) pack.entry({ name: f.path, mode: 0o600 }, files.get(f.path)!);
    pack.finalize();
    await ended;
    const body = Buffer.concat(packed);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const said: Buffer[] = [];
    const volume = (steps: string, names: string[], stdin?: Buffer) =>
      execStreams(kc, opts.namespace, podName, 'restore', ['python3', '-c', RESTORE_PY, DATA_DIR, JSON.stringify({ files: onVolume }), stamp, String(stdin?.length ?? 0), steps, names.join(',')], {
        stdin: stdin ? new PassThrough().end(stdin) : undefined,
        stdout: new Writable({ write: (c: Buffer, _e, cb) => (said.push(c), cb()) }),
        timeoutMs: 600_000,
      });
    if (database === 'sqlite') {
      opts.log('restore: staging and checking the files on the volume, then swapping them in');
      await volume('stage,swap', ['webui.db', 'uploads'], body);
    } else {
      opts.log('restore: staging and checking the uploads on the volume');
      await volume('stage', ['uploads'], body);
      const dump = files.get(PG_DUMP)!;
      opts.log(`restore: pg_restore into the database in ${postgresPod} (one transaction: all or nothing)`);
      // Exactly the dump's bytes (the exec's stdin is never closed), replacing every object.
      const restoreSh = `head -c ${dump.length} | pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner --no-privileges -d "$PGDATABASE"`;
      try {
        await execStreams(kc, opts.namespace, postgresPod!, 'postgres', ['sh', '-c', restoreSh], { stdin: new PassThrough().end(dump), timeoutMs: 1_800_000 });
      } catch (e) {
        await volume('discard', ['uploads']).catch(() => undefined);
        throw new BackupError(`pg_restore failed and was rolled back, the database and uploads are as they were: ${(e as Error).message}`);
      }
      opts.log('restore: swapping the uploads in');
      await volume('swap', ['uploads']);
    }
    await new Promise((r) => setTimeout(r, 100));
    kept = /previous data is in (\S+)/.exec(Buffer.concat(said).toString('utf8'))?.[1] ?? '';
  } finally {
    await core.deleteNamespacedPod({ name: podName, namespace: opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitUntil(`pod ${podName} gone`, async () => (await core.readNamespacedPod({ name: podName, namespace: opts.namespace }).then(() => undefined, () => true)), { timeoutMs: 120_000, intervalMs: 1000 }).catch(() => undefined);
    opts.log(`restore: starting ${APP} again (scale 0 -> ${replicas})`);
    await scaleTo(kc, opts.namespace, replicas);
  }
  await waitUntil(`${APP} Ready after the restore`, async () => ((await listPods(kc, opts.namespace, `app.kubernetes.io/name=${APP}`)).some(isPodReady) ? true : undefined), { timeoutMs: 300_000, intervalMs: 1000 });
  return { seconds: (Date.now() - t0) / 1000, kept };
}
