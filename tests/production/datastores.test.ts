// The in-cluster datastores in use: Open WebUI keeps its data in Postgres (pgvector ready) and
// nothing in SQLite, and the NetworkPolicies let Open WebUI alone reach them while they reach
// nothing. Every denial follows the same probe succeeding where it is allowed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { adminToken, kc, secret, stack } from '../support/live.ts';
import { streamChat } from '../support/open-webui.ts';
import { configuredModels } from '../support/models.ts';
import { sql } from '../support/postgres.ts';
import { canConnect, createProbePod, networkPolicyEnforcement } from '../support/probes.ts';
import { deletePod, execIn, listPods, podOf } from '../../lib/kube/pod.ts';
import { renderObjects } from '../../lib/kustomize.ts';
import { connectionBudget } from '../static/policy.ts';

const ns = stack.namespace;
const pod = async (app: string) => (await podOf(kc, ns, app)).metadata!.name!;

describe('Open WebUI on Postgres', { timeout: 60_000 }, () => {
  it('created its tables in Postgres', async () => {
    const tables = (await sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).split('\n');
    expect(tables).toEqual(expect.arrayContaining(['auth', 'chat', 'config', 'user']));
    // The headless admin the first replica created is a row there.
    expect(await sql(`SELECT role FROM "user" WHERE email = '${secret('admin.env', 'WEBUI_ADMIN_EMAIL')}'`)).toBe('admin');
  });

  it("holds each replica's connections within its pools' size (figure printed)", async () => {
    // DATABASE_POOL_* and PGVECTOR_POOL_* as rendered: the most one replica may open.
    const { perReplica } = connectionBudget(await renderObjects(stack.dir));
    expect(perReplica).toBeGreaterThan(0);
    const byAddress = new Map(
      (await sql('SELECT host(client_addr), count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL GROUP BY 1'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('|') as [string, string]),
    );
    const counts: string[] = [];
    for (const p of await listPods(kc, ns, 'app.kubernetes.io/name=open-webui')) {
      const n = Number(byAddress.get(p.status!.podIP!) ?? 0);
      expect(n, `${p.metadata!.name}`).toBeLessThanOrEqual(perReplica);
      counts.push(`${p.metadata!.name}: ${n}`);
    }
    console.log(`Postgres connections per Open WebUI replica at rest (at most ${perReplica}): ${counts.join(', ')}`);
  });

  it("holds each replica's connections within its pools under 12 concurrent chats (figure printed)", async () => {
    const { perReplica } = connectionBudget(await renderObjects(stack.dir));
    const client = new OpenAI({ baseURL: `${stack.urls.openWebui}/api`, apiKey: await adminToken(), maxRetries: 0 });
    const model = configuredModels()[0]!.name;
    const ips = new Map((await listPods(kc, ns, 'app.kubernetes.io/name=open-webui')).map((p) => [p.status!.podIP!, p.metadata!.name!]));
    const most = new Map<string, number>();
    let done = false;
    const sample = (async () => {
      while (!done) {
        for (const l of (
          await sql('SELECT host(client_addr), count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL GROUP BY 1')
        ).split('\n')) {
          const [ip, n] = l.split('|');
          const pod = ips.get(ip ?? '');
          if (pod) most.set(pod, Math.max(most.get(pod) ?? 0, Number(n)));
        }
      }
    })();
    const chats = await Promise.all(Array.from({ length: 12 }, (_, i) => streamChat(client, model, `load ${i}`)));
    done = true;
    await sample;
    expect(chats.filter((c) => c.error)).toEqual([]);
    for (const [pod, n] of most) expect(n, pod).toBeLessThanOrEqual(perReplica);
    console.log(
      `Postgres connections per Open WebUI replica under 12 concurrent chats, most seen (at most ${perReplica}): ${[...most].map(([p, n]) => `${p}: ${n}`).join(', ')}`,
    );
  });

  it('has the pgvector extension its vector store uses', async () => {
    expect(await sql("SELECT extname FROM pg_extension WHERE extname = 'vector'")).toBe('vector');
    expect(await sql("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector")).toBe('1');
  });

  it("wrote no SQLite database on either replica's data volume (which is mounted and writable)", async () => {
    for (const p of await listPods(kc, ns, 'app.kubernetes.io/name=open-webui')) {
      const name = p.metadata!.name!;
      const probe = await execIn(kc, ns, name, 'open-webui', [
        'sh',
        '-c',
        'touch /app/backend/data/.probe && rm /app/backend/data/.probe && ls -a /app/backend/data',
      ]);
      expect(probe.code, probe.stderr).toBe(0);
      expect(probe.stdout.split('\n')).not.toContain('webui.db');
    }
  });
});

describe('NetworkPolicy around the datastores', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const image = (await podOf(kc, ns, 'fake-anthropic')).spec!.containers[0]!.image!;
    await createProbePod(kc, ns, 'probe-unlabelled', image, { run: 'probe' });
  }, 120_000);
  afterAll(() => deletePod(kc, ns, 'probe-unlabelled'));

  it('is enforced by the node', async () => {
    const evidence = await networkPolicyEnforcement(stack.clusterId!);
    expect(evidence.running, evidence.detail).toBe(true);
  });

  it.each([
    ['postgres', 5432],
    ['redis', 6379],
  ] as const)('lets Open WebUI reach %s:%i, and neither LiteLLM nor an unlabelled pod', async (target, port) => {
    expect(await canConnect(kc, ns, await pod('open-webui'), 'open-webui', 'python', target, port)).toBe(true);
    expect(await canConnect(kc, ns, await pod('litellm'), 'litellm', 'python', target, port)).toBe(false);
    expect(await canConnect(kc, ns, 'probe-unlabelled', 'probe', 'node', target, port)).toBe(false);
  });

  it.each(['postgres', 'redis'])('lets %s reach nothing: not LiteLLM, not the fake upstream, not DNS', async (source) => {
    // Addresses, not names: the datastores have no DNS either (shown last).
    const ip = async (app: string) => (await podOf(kc, ns, app)).status!.podIP!;
    const targets: [string, number][] = [
      [await ip('litellm'), 4000],
      [await ip('fake-anthropic'), 8080],
      ['10.43.0.10', 53], // the cluster DNS Service
    ];
    for (const [host, port] of targets) {
      // Positive control: the same bash probe from Open WebUI's pod, which may reach LiteLLM and
      // DNS; the fake upstream only LiteLLM may reach, so it is the control for that target.
      const control = host === targets[1]![0] ? ['litellm', 'litellm'] : ['open-webui', 'open-webui'];
      expect(await canConnect(kc, ns, await pod(control[0]!), control[1]!, 'bash', host, port), `${control[0]} -> ${host}:${port}`).toBe(
        true,
      );
      expect(await canConnect(kc, ns, await pod(source), source, 'bash', host, port), `${source} -> ${host}:${port}`).toBe(false);
    }
  });
});
