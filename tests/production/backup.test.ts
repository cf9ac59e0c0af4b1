// Backup and restore on the production stack: Open WebUI on the in-cluster Postgres (pg_dump,
// restored by pg_restore in one transaction) with uploads on the shared volume, two replicas under
// an HPA. A chat and a file are made, backed up while the stack serves, deleted through the API,
// and restored; the user finds both again and continues the chat. A SQLite archive is refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { backup, readArchive, restore, type BackupResult } from '../../ops/lib/backup.ts';
import { listPods, isPodReady } from '../../lib/kube/pod.ts';
import { expectedReply } from '../../fake-anthropic/src/reply.ts';
import { admin, adminToken, kc, stack } from '../support/live.ts';
import { configuredModels } from '../support/models.ts';
import { api, saveChatAndFile, signIn, streamChat } from '../support/open-webui.ts';
import { rewriteArchive } from '../support/backup-archive.ts';
import { OVERLAY } from '../support/production-setup.ts';

const webui = stack.urls.openWebui;
const model = configuredModels()[0]!;
const FILE_TEXT = 'Kept in Postgres and on the shared volume.';
let outDir = '';
let taken: BackupResult;
const made = { chatId: '', title: '', fileId: '' };

const readyOpenWebui = async () => (await listPods(kc, stack.namespace, 'app.kubernetes.io/name=open-webui')).filter(isPodReady).length;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'chatstack-pg-backups-'));
  const token = await adminToken(webui);
  made.title = `kept by the Postgres backup ${Date.now()}`;
  Object.assign(
    made,
    await saveChatAndFile(webui, token, { title: made.title, model: model.name, fileName: 'ledger.txt', fileText: FILE_TEXT }),
  );
  taken = await backup(kc, { namespace: stack.namespace, overlay: OVERLAY, outDir, log: (l) => console.log(`[backup] ${l}`) });
  console.log(`[backup] Postgres: ${taken.manifest.files.length} files, ${taken.bytes} bytes gzipped, in ${taken.seconds.toFixed(1)} s`);
}, 180_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('backup and restore with Postgres', { timeout: 300_000 }, () => {
  it('archives a pg_dump of the database and the uploads, described by the manifest', async () => {
    const { manifest, files } = await readArchive(taken.file);
    expect(manifest).toMatchObject({
      format: 'chat-stack-backup/1',
      overlay: OVERLAY,
      database: 'postgres',
      openWebui: { version: '0.12.4' },
    });
    expect(manifest.openWebui.schemaRevision).toMatch(/^[0-9a-f]{12}$/);
    expect(files.get('data/openwebui.dump')!.subarray(0, 5).toString('latin1')).toBe('PGDMP'); // pg_dump's custom format
    const upload = [...files.keys()].find((p) => p.startsWith('data/uploads/') && p.endsWith('ledger.txt'));
    expect(files.get(upload!)?.toString('utf8')).toBe(FILE_TEXT);
  });

  it('refuses a SQLite archive for a Postgres stack, before touching it', async () => {
    const sqlite = join(outDir, 'sqlite.tar.gz');
    await rewriteArchive(taken.file, sqlite, (name, body) => {
      if (name === 'manifest.json') {
        const m = JSON.parse(body.toString('utf8')) as { database: string; files: { path: string }[] };
        return Buffer.from(
          JSON.stringify({
            ...m,
            database: 'sqlite',
            files: m.files.map((f) => ({ ...f, path: f.path.replace('openwebui.dump', 'webui.db') })),
          }),
        );
      }
      return name === 'data/openwebui.dump' ? ['data/webui.db', body] : body;
    });
    const pods = (await listPods(kc, stack.namespace, 'app.kubernetes.io/name=open-webui')).map((p) => p.metadata!.name).sort();
    await expect(restore(kc, { namespace: stack.namespace, archive: sqlite, log: () => {} })).rejects.toThrow(
      /holds a sqlite database and .* runs on postgres/,
    );
    expect((await listPods(kc, stack.namespace, 'app.kubernetes.io/name=open-webui')).map((p) => p.metadata!.name).sort()).toEqual(pods);
  });

  it('brings back a deleted chat and file, with both replicas serving and the chat continuing', async () => {
    let { token } = await signIn(webui, admin());
    expect((await api(webui, `/api/v1/chats/${made.chatId}`, token, { method: 'DELETE' })).status).toBe(200);
    expect((await api(webui, `/api/v1/files/${made.fileId}`, token, { method: 'DELETE' })).status).toBe(200);
    expect((await api(webui, `/api/v1/chats/${made.chatId}`, token)).status).not.toBe(200);
    const r = await restore(kc, { namespace: stack.namespace, archive: taken.file, log: (l) => console.log(`[restore] ${l}`) });
    console.log(`[restore] Postgres: done in ${r.seconds.toFixed(1)} s; previous uploads kept in ${r.kept}`);
    // Both replicas at least: the HPA owns the count (earlier traffic may have raised it, and it
    // may be settling back while the restore runs), and never goes below its minimum of two.
    await expect.poll(readyOpenWebui, { timeout: 180_000, interval: 2000 }).toBeGreaterThanOrEqual(2);

    ({ token } = await signIn(webui, admin()));
    const chat = await api<{ chat: { title: string; messages: { content: string }[] } }>(webui, `/api/v1/chats/${made.chatId}`, token);
    expect(chat.status).toBe(200);
    expect(chat.body.chat.title).toBe(made.title);
    expect(chat.body.chat.messages.map((m) => m.content)).toEqual(['first question', 'first answer']);
    const content = await fetch(`${webui}/api/v1/files/${made.fileId}/content`, { headers: { authorization: `Bearer ${token}` } });
    expect(content.status).toBe(200);
    expect(await content.text()).toBe(FILE_TEXT);

    const client = new OpenAI({ baseURL: `${webui}/api`, apiKey: token, maxRetries: 0 });
    const reply = await streamChat(client, model.name, 'second question');
    expect(reply).toEqual({ text: expectedReply({ model: model.anthropicId, messages: [{ role: 'user', content: 'second question' }] }) });
    const messages = [...chat.body.chat.messages, { role: 'user', content: 'second question' }, { role: 'assistant', content: reply.text }];
    expect(
      (
        await api(webui, `/api/v1/chats/${made.chatId}`, token, {
          method: 'POST',
          body: JSON.stringify({ chat: { title: made.title, messages } }),
        })
      ).status,
    ).toBe(200);
  });
});
