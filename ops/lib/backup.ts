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
import { exec, type ExecResult } from '../../lib/kube/exec.ts';
import { isPodReady, listPods, readyPods } from '../../lib/kube/pod.ts';
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

// The programs that run in the pods, real files beside this one (each takes one JSON argument and
// answers with a JSON line): Python, which the Open WebUI image has (no sqlite3 CLI there).
const IN_POD = join(import.meta.dirname, 'in-pod');
const BACKUP_PY = readFileSync(join(IN_POD, 'backup.py'), 'utf8');
const RESTORE_PY = readFileSync(join(IN_POD, 'restore.py'), 'utf8');

/** The last line of `text` that is a JSON object. */
function lastJsonLine<T>(text: string): T | undefined {
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as T) : undefined;
}

/** Runs `command` in a container (lib/kube/exec.ts); a non-zero exit is a BackupError quoting its stderr. */
async function execStreams(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
  io: { stdin?: Readable; stdout?: Writable; timeoutMs: number },
): Promise<ExecResult> {
  const r = await exec(kc, namespace, pod, container, command, io).catch((e: unknown) => {
    throw new BackupError((e as Error).message);
  });
  if (r.code !== 0) throw new BackupError(`in ${pod}: ${r.stderr.trim().split('\n').slice(-3).join(' | ') || r.message}`);
  return r;
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
    const [pod] = await readyPods(kc, namespace, 'postgres');
    if (!pod) {
      throw new BackupError(
        `${namespace}/${APP} keeps its data in a database outside the namespace (DATABASE_URL, no Ready in-cluster postgres pod): back that database up with its provider's tools or pg_dump; this tool covers SQLite and the in-cluster Postgres`,
      );
    }
    postgresPod = pod.metadata!.name!;
  }
  const claim = spec.volumes?.find((v) => v.name === container.volumeMounts?.find((m) => m.mountPath === DATA_DIR)?.name)
    ?.persistentVolumeClaim?.claimName;
  if (!claim) throw new BackupError(`${namespace}/${APP} mounts no PersistentVolumeClaim at ${DATA_DIR}: nothing to back up`);
  return { deployment, container, claim, database: postgresPod ? 'postgres' : 'sqlite', postgresPod };
}

const PG_DUMP = 'data/openwebui.dump';

/** pg_dump (custom format) through the Postgres pod's stdout, checked against the size and sha256 the pod reports at the end. */
async function pgDump(kc: k8s.KubeConfig, namespace: string, pod: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stdout = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
  // No room on the pod for a copy (its /tmp is small): stream it, and let tee feed sha256sum.
  const script =
    '{ pg_dump --format=custom --no-owner --no-privileges; echo "pg_dump exit $?" >&2; } | { tee /dev/fd/3 | sha256sum >&2; } 3>&1';
  const said = (await execStreams(kc, namespace, pod, 'postgres', ['sh', '-c', script], { stdout, timeoutMs: 1_800_000 })).stderr;
  if (!/pg_dump exit 0/.test(said)) throw new BackupError(`pg_dump in ${pod} failed: ${said}`);
  const want = /([0-9a-f]{64})\s+-/.exec(said)?.[1];
  const body = Buffer.concat(chunks);
  if (sha256().update(body).digest('hex') !== want)
    throw new BackupError(`the dump from ${pod} arrived incomplete (${body.length} bytes, sha256 differs from the pod's ${want})`);
  return body;
}

const psql = async (kc: k8s.KubeConfig, namespace: string, pod: string, sql: string): Promise<string> =>
  (await execStreams(kc, namespace, pod, 'postgres', ['psql', '-Atc', sql], { timeoutMs: 60_000 })).stdout.trim();

async function readyPodOf(kc: k8s.KubeConfig, namespace: string): Promise<string> {
  const [pod] = await readyPods(kc, namespace, APP);
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
export async function backup(
  kc: k8s.KubeConfig,
  opts: { namespace: string; overlay: string; outDir: string; log: (l: string) => void },
): Promise<BackupResult> {
  const t0 = Date.now();
  const target = await openWebuiOf(kc, opts.namespace);
  const { container } = target;
  const pod = await readyPodOf(kc, opts.namespace);
  opts.log(
    `backup: copying ${target.database === 'sqlite' ? 'the database (SQLite backup API) and ' : ''}the uploads from ${opts.namespace}/${pod}`,
  );
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
  const { stderr } = await execStreams(
    kc,
    opts.namespace,
    pod,
    container.name,
    ['python3', '-c', BACKUP_PY, JSON.stringify({ data: DATA_DIR, database: target.database })],
    { stdout, timeoutMs: 600_000 },
  );
  await extracted;
  let schemaRevision = lastJsonLine<{ schema: string | null }>(stderr)?.schema ?? 'unknown';
  if (target.postgresPod) {
    opts.log(`backup: pg_dump of the database in ${opts.namespace}/${target.postgresPod}`);
    const dump = await pgDump(kc, opts.namespace, target.postgresPod);
    files.set(PG_DUMP, dump);
    entries.push({ path: PG_DUMP, bytes: dump.length, sha256: sha256().update(dump).digest('hex') });
    schemaRevision = (await psql(kc, opts.namespace, target.postgresPod, 'select version_num from alembic_version')) || 'unknown';
  }
  if (!files.has(target.database === 'sqlite' ? 'data/webui.db' : PG_DUMP)) throw new BackupError('the copy holds no database');
  const litellm = await kc
    .makeApiClient(k8s.AppsV1Api)
    .readNamespacedDeployment({ name: 'litellm', namespace: opts.namespace })
    .catch(() => undefined);
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
  if (manifest.format !== BACKUP_FORMAT)
    throw new BackupError(`${name}: format ${JSON.stringify(manifest.format)}, this tool reads ${BACKUP_FORMAT}`);
  if (!['sqlite', 'postgres'].includes(manifest.database) || !Array.isArray(manifest.files))
    throw new BackupError(`${name}: its manifest lacks the database or the file list`);
  for (const f of manifest.files) {
    if (!/^data\/(webui\.db|openwebui\.dump|uploads\/.+)$/.test(f.path) || f.path.split('/').includes('..'))
      throw new BackupError(`${name}: the manifest names a file outside data/: ${f.path}`);
    const body = files.get(f.path);
    if (!body) throw new BackupError(`${name}: ${f.path} is in the manifest but not in the archive (truncated?)`);
    if (body.length !== f.bytes || sha256().update(body).digest('hex') !== f.sha256)
      throw new BackupError(`${name}: ${f.path} does not match its checksum in the manifest (tampered or damaged)`);
  }
  const extra = [...files.keys()].filter((p) => !manifest!.files.some((f) => f.path === p));
  if (extra.length) throw new BackupError(`${name}: files not in the manifest: ${extra.join(', ')} (tampered?)`);
  const db = manifest.database === 'sqlite' ? 'data/webui.db' : PG_DUMP;
  if (!files.has(db)) throw new BackupError(`${name}: holds no ${db}`);
  return { manifest, files };
}

async function scaleTo(kc: k8s.KubeConfig, namespace: string, replicas: number): Promise<void> {
  await kc
    .makeApiClient(k8s.AppsV1Api)
    .patchNamespacedDeploymentScale(
      { name: APP, namespace, body: { spec: { replicas } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
}

export interface RestoreResult {
  seconds: number;
  kept: string;
  /** The database restored; on SQLite the document vectors (embedded Chroma) were not in the archive. */
  database: 'sqlite' | 'postgres';
}

/**
 * Restores an archive into the stack in `namespace`: refuses a wrong, damaged or tampered archive
 * and a newer Open WebUI than the stack runs before touching anything; then stops Open WebUI,
 * swaps the data on its volume through a short-lived pod, and starts it again.
 */
export async function restore(
  kc: k8s.KubeConfig,
  opts: { namespace: string; archive: string; log: (l: string) => void },
): Promise<RestoreResult> {
  const t0 = Date.now();
  const { manifest, files } = await readArchive(opts.archive);
  const { deployment, container, claim, database, postgresPod } = await openWebuiOf(kc, opts.namespace);
  if (manifest.database !== database) {
    throw new BackupError(
      `${basename(opts.archive)} holds a ${manifest.database} database and ${opts.namespace} runs on ${database}: restore it into a stack of the same kind (moving between them is a migration, not a restore)`,
    );
  }
  const running = versionOf(container.image!);
  if (manifest.openWebui.version === 'unknown' || running === 'unknown' || compareVersions(manifest.openWebui.version, running) > 0) {
    throw new BackupError(
      `cannot restore a backup of Open WebUI ${manifest.openWebui.version} into ${running} (${container.image}): its database may carry migrations this release does not know; restore into ${manifest.openWebui.version} or newer`,
    );
  }
  opts.log(
    `restore: ${basename(opts.archive)} (Open WebUI ${manifest.openWebui.version}, ${manifest.files.length} files) into ${opts.namespace}, running ${running}`,
  );
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const replicas = deployment.spec?.replicas ?? 1;
  const podName = `${APP}-restore`;
  const template = deployment.spec!.template.spec!;
  await core.deleteNamespacedPod({ name: podName, namespace: opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  opts.log(`restore: stopping ${APP} (scale ${replicas} -> 0) so nothing writes meanwhile`);
  await scaleTo(kc, opts.namespace, 0);
  let keptDir = '';
  try {
    await waitUntil(
      `${APP} pods gone`,
      async () => ((await listPods(kc, opts.namespace, `app.kubernetes.io/name=${APP}`)).length === 0 ? true : undefined),
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
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
    await waitUntil(
      `pod ${podName} running`,
      async () =>
        (await core.readNamespacedPod({ name: podName, namespace: opts.namespace })).status?.phase === 'Running' ? true : undefined,
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
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
    const volume = async (steps: string[], names: string[], stdin?: Buffer) => {
      const args = { data: DATA_DIR, files: onVolume, stamp, size: stdin?.length ?? 0, steps, names };
      const r = await execStreams(kc, opts.namespace, podName, 'restore', ['python3', '-c', RESTORE_PY, JSON.stringify(args)], {
        stdin: stdin ? new PassThrough().end(stdin) : undefined,
        timeoutMs: 600_000,
      });
      keptDir = lastJsonLine<{ kept: string | null }>(r.stdout)?.kept ?? keptDir;
    };
    if (database === 'sqlite') {
      opts.log('restore: staging and checking the files on the volume, then swapping them in');
      await volume(['stage', 'swap'], ['webui.db', 'uploads'], body);
    } else {
      opts.log('restore: staging and checking the uploads on the volume');
      await volume(['stage'], ['uploads'], body);
      const dump = files.get(PG_DUMP)!;
      opts.log(`restore: pg_restore into the database in ${postgresPod} (one transaction: all or nothing)`);
      // Exactly the dump's bytes (the exec's stdin is never closed), replacing every object.
      const restoreSh = `head -c ${dump.length} | pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner --no-privileges -d "$PGDATABASE"`;
      try {
        await execStreams(kc, opts.namespace, postgresPod!, 'postgres', ['sh', '-c', restoreSh], {
          stdin: new PassThrough().end(dump),
          timeoutMs: 1_800_000,
        });
      } catch (e) {
        await volume(['discard'], ['uploads']).catch(() => undefined);
        throw new BackupError(`pg_restore failed and was rolled back, the database and uploads are as they were: ${(e as Error).message}`);
      }
      opts.log('restore: swapping the uploads in');
      await volume(['swap'], ['uploads']);
    }
  } finally {
    await core.deleteNamespacedPod({ name: podName, namespace: opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitUntil(
      `pod ${podName} gone`,
      async () =>
        await core.readNamespacedPod({ name: podName, namespace: opts.namespace }).then(
          () => undefined,
          () => true,
        ),
      { timeoutMs: 120_000, intervalMs: 1000 },
    ).catch(() => undefined);
    opts.log(`restore: starting ${APP} again (scale 0 -> ${replicas})`);
    await scaleTo(kc, opts.namespace, replicas);
  }
  await waitUntil(
    `${APP} Ready after the restore`,
    async () => ((await listPods(kc, opts.namespace, `app.kubernetes.io/name=${APP}`)).some(isPodReady) ? true : undefined),
    { timeoutMs: 300_000, intervalMs: 1000 },
  );
  return { seconds: (Date.now() - t0) / 1000, kept: keptDir, database: manifest.database };
}
