// Backup and restore (npm run backup / restore, ops/lib/backup.ts) as a user needs them: a user,
// a chat, an uploaded file and a setting are made on the dev stack; the backup is taken while it
// runs; a fresh stack (the dev overlay in its own namespace, with its own secrets) gets it back;
// there the user signs in, finds all of it and continues the chat. Broken archives are refused
// before the stack is touched.
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { $ } from 'zx';
import { REPO_ROOT } from '../../lib/kustomize.ts';
import { backup, readArchive, restore, type BackupManifest, type BackupResult } from '../../ops/lib/backup.ts';
import { fillEmptyValues, randomSecret } from '../../lib/secrets.ts';
import { up, type Stack } from '../../dev/lib/stack.ts';
import { podOf } from '../../lib/kube/pod.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { adminToken, kc, stack as devStack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { api, readChatAndFile, saveChatAndFile, signIn, streamChat } from '../support/open-webui.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';
import { rewriteArchive } from '../support/backup-archive.ts';

const NAMESPACE = 'chat-restore';
const webui = devStack.urls.openWebui;
const model = configuredModels()[0]!;
const user = { name: 'Ada Backup', email: `ada-${Date.now()}@example.com`, password: `Pw-${randomSecret('')}` };
const FILE_TEXT = 'The quarterly numbers, kept safe by the backup.';

let ws: Workspace | undefined;
let fresh: Stack | undefined;
let outDir = '';
let taken: BackupResult;
const made = { chatId: '', chatTitle: '', fileId: '' };

const owuiPod = async (k: k8s.KubeConfig, ns: string) => {
  const p = await podOf(k, ns, 'open-webui');
  return { name: p.metadata!.name!, restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0 };
};

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'chatstack-backups-'));
  // The data a user would lose, made through Open WebUI's API on the dev stack.
  const admin = await adminToken();
  // An admin: a plain user sees no model until one is shared with them (Open WebUI's access control).
  const added = await api<{ id?: string }>(webui, '/api/v1/auths/add', admin, {
    method: 'POST',
    body: JSON.stringify({ ...user, role: 'admin' }),
  });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  const { token } = await signIn(webui, user);
  made.chatTitle = `kept by the backup ${Date.now()}`;
  Object.assign(
    made,
    await saveChatAndFile(webui, token, { title: made.chatTitle, model: model.name, fileName: 'numbers.txt', fileText: FILE_TEXT }),
  );
  const settings = await api(webui, '/api/v1/users/user/settings/update', token, {
    method: 'POST',
    body: JSON.stringify({ ui: { chatBubble: false, backupMarker: 'set before the backup' } }),
  });
  expect(settings.status).toBe(200);

  // The backup, taken while the dev stack runs.
  taken = await backup(kc, { namespace: devStack.namespace, overlay: 'dev', outDir, log: (l) => console.log(`[backup] ${l}`) });
  console.log(`[backup] ${taken.manifest.files.length} files, ${taken.bytes} bytes gzipped, in ${taken.seconds.toFixed(1)} s`);

  // A fresh stack: the dev overlay in its own namespace, with secrets of its own.
  ws = await createWorkspace();
  const dir = join(ws.root, 'dev-restore-target');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({ namespace: NAMESPACE, resources: ['../manifests/local/dev'] }));
  const secretsDir = join(ws.localDir, 'dev');
  fillEmptyValues(join(secretsDir, 'litellm.env'), { ANTHROPIC_API_KEY: randomSecret('sk-ant-fake-') });
  fresh = await up({
    overlay: 'dev',
    dir,
    secretsDir,
    namespace: NAMESPACE,
    kubeconfig: devStack.kubeconfig,
    hermeticImagesLoaded: devStack.images.mode === 'hermetic',
    log: (l) => console.log(`[restore-target] ${l}`),
  });
}, 420_000);

afterAll(async () => {
  await fresh?.stop({ log: (l) => console.log(`[restore-target] ${l}`) });
  ws?.[Symbol.dispose]();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
}, 180_000);

describe('backup', { timeout: 60_000 }, () => {
  it('writes one self-describing archive: manifest first, the database and the upload, each with its checksum', async () => {
    expect(taken.file).toMatch(/chat-stack-dev-\d{4}-\d\d-\d\dT.*\.tar\.gz$/);
    expect(statSync(taken.file).mode & 0o777).toBe(0o600);
    const { manifest, files } = await readArchive(taken.file);
    expect(manifest).toMatchObject({
      format: 'chat-stack-backup/1',
      overlay: 'dev',
      namespace: devStack.namespace,
      database: 'sqlite',
      openWebui: { version: '0.12.4' },
    });
    expect(manifest.openWebui.schemaRevision).toMatch(/^[0-9a-f]{12}$/);
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toContain('data/webui.db');
    const upload = paths.find((p) => p.startsWith('data/uploads/') && p.endsWith('numbers.txt'));
    expect(upload, paths.join(', ')).toBeDefined();
    expect(files.get(upload!)!.toString('utf8')).toBe(FILE_TEXT);
    // The database copy is a SQLite file, not a torn write.
    expect(files.get('data/webui.db')!.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
  });
});

describe('the commands', { timeout: 120_000 }, () => {
  const run = (script: string, args: string[]) =>
    $({ nothrow: true, quiet: true, cwd: REPO_ROOT })`${process.execPath} ${join(REPO_ROOT, 'ops', script)} ${args}`;

  it("npm run backup -- --overlay dev --kubeconfig FILE writes an archive of that cluster's stack and says where and how big", async () => {
    const out = join(outDir, 'cli');
    const r = await run('backup.ts', ['--overlay', 'dev', '--kubeconfig', devStack.kubeconfig, '--out', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`backup: ${devStack.namespace} on ${devStack.kubeconfig}`);
    const file = /backup: (\S+\.tar\.gz)/.exec(r.stdout)?.[1];
    expect((await readArchive(file!)).manifest.namespace).toBe(devStack.namespace);
    expect(r.stdout).toMatch(/\d+ files, [\d.]+ MiB \([\d.]+ MiB gzipped\), Open WebUI 0\.12\.4 schema [0-9a-f]{12}, in [\d.]+ s/);
  });

  it('say what to give when an argument is missing or wrong, and change nothing', async () => {
    // exit 2: the command line is wrong in shape (with the usage); exit 1: a value names nothing usable
    const cases: [string, string[], number, RegExp][] = [
      ['backup.ts', [], 2, /^npm run backup: missing --overlay NAME\n\nUsage: npm run backup/],
      ['backup.ts', ['--overlay', 'nope', '--kubeconfig', devStack.kubeconfig], 1, /nope/],
      ['backup.ts', ['--overlay', 'dev', '--kubeconfig', join(outDir, 'missing.yaml')], 1, /--kubeconfig .*missing\.yaml: no such file/],
      [
        'restore.ts',
        ['--overlay', 'dev', '--kubeconfig', devStack.kubeconfig],
        2,
        /^npm run restore: missing ARCHIVE\n\nUsage: npm run restore/,
      ],
      [
        'restore.ts',
        ['--overlay', 'dev', '--kubeconfig', devStack.kubeconfig, join(outDir, 'missing.tar.gz')],
        1,
        /missing\.tar\.gz: no such file/,
      ],
    ];
    for (const [script, args, exit, says] of cases) {
      const r = await run(script, args);
      expect({ script, args, exit: r.exitCode }).toEqual({ script, args, exit });
      expect(r.stderr).toMatch(says);
    }
  });
});

describe('restore', { timeout: 240_000 }, () => {
  it('has a fresh stack of the same overlay beside the dev stack, which it left alone (apply prunes per stack)', async () => {
    const deployments = async (ns: string) =>
      (await kc.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace: ns })).items.map((d) => d.metadata!.name).sort();
    expect(await deployments(NAMESPACE)).toEqual(['fake-anthropic', 'litellm', 'open-webui']);
    expect(await deployments(devStack.namespace)).toEqual(['fake-anthropic', 'litellm', 'open-webui']);
    expect((await fetch(`${webui}/health`)).status).toBe(200);
  });

  it('refuses a truncated, a tampered, a foreign and a newer archive before touching the stack', async () => {
    const fk = fresh!.kc;
    const before = await owuiPod(fk, NAMESPACE);
    const truncated = join(outDir, 'truncated.tar.gz');
    copyFileSync(taken.file, truncated);
    truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
    const tampered = join(outDir, 'tampered.tar.gz');
    await rewriteArchive(taken.file, tampered, (name, body) =>
      name === 'data/webui.db' ? Buffer.concat([body.subarray(0, 200), Buffer.from('X'), body.subarray(201)]) : body,
    );
    const foreign = join(outDir, 'foreign.tar.gz');
    await rewriteArchive(taken.file, foreign, (name, body) =>
      name === 'manifest.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(body.toString('utf8')), format: 'someone-else/1' })) : body,
    );
    const newer = join(outDir, 'newer.tar.gz');
    await rewriteArchive(taken.file, newer, (name, body) => {
      if (name !== 'manifest.json') return body;
      const m = JSON.parse(body.toString('utf8')) as BackupManifest;
      return Buffer.from(JSON.stringify({ ...m, openWebui: { ...m.openWebui, version: '99.0.0' } }));
    });
    const notAnArchive = join(outDir, 'notes.tar.gz');
    writeFileSync(notAnArchive, 'not an archive');
    const cases: [string, RegExp][] = [
      [truncated, /truncated/],
      [tampered, /data\/webui\.db does not match its checksum/],
      [foreign, /format "someone-else\/1"/],
      [newer, /cannot restore a backup of Open WebUI 99\.0\.0 into 0\.12\.4/],
      [notAnArchive, /truncated or not a gzipped tar/],
      [join(outDir, 'missing.tar.gz'), /no such file/],
    ];
    for (const [file, says] of cases) {
      await expect(restore(fk, { namespace: NAMESPACE, archive: file, log: () => {} }), file).rejects.toThrow(says);
    }
    // Nothing was touched: the same Open WebUI pod runs, never restarted.
    expect(await owuiPod(fk, NAMESPACE)).toEqual(before);
  });

  it('puts everything back into a fresh stack, where the user signs in, finds the chat, the file and the setting, and continues the chat', async () => {
    const url = fresh!.info.urls.openWebui;
    // Before: the fresh stack does not know the user.
    await expect(signIn(url, user)).rejects.toThrow(/HTTP 400/);
    const r = await restore(fresh!.kc, { namespace: NAMESPACE, archive: taken.file, log: (l) => console.log(`[restore] ${l}`) });
    console.log(`[restore] done in ${r.seconds.toFixed(1)} s; previous data kept in ${r.kept}`);
    expect(r.kept).toMatch(/^\/app\/backend\/data\/\.pre-restore-/);

    const { token } = await signIn(url, user);
    const found = await readChatAndFile(url, token, made);
    expect(found.chats).toContainEqual([made.chatId, made.chatTitle]);
    expect(found.messages.map((m) => m.content)).toEqual(['first question', 'first answer']);
    expect(found.file).toEqual({ status: 200, text: FILE_TEXT });
    const settings = await api<{ ui?: { backupMarker?: string } }>(url, '/api/v1/users/user/settings', token);
    expect(settings.body.ui?.backupMarker).toBe('set before the backup');

    // Continue the chat: a streamed answer through the fresh stack, saved into the restored chat.
    const client = new OpenAI({ baseURL: `${url}/api`, apiKey: token, maxRetries: 0 });
    const reply = await streamChat(client, model.name, 'second question');
    expect(reply).toEqual({ text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'second question' }] }) });
    const messages = [...found.messages, { role: 'user', content: 'second question' }, { role: 'assistant', content: reply.text }];
    const saved = await api(url, `/api/v1/chats/${made.chatId}`, token, {
      method: 'POST',
      body: JSON.stringify({ chat: { title: made.chatTitle, messages } }),
    });
    expect(saved.status).toBe(200);
    const again = await api<{ chat: { messages: unknown[] } }>(url, `/api/v1/chats/${made.chatId}`, token);
    expect(again.body.chat.messages).toHaveLength(4);
  });
});
