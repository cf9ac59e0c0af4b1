// Two Open WebUI replicas starting at the same moment against an empty database: both run
// their migrations and the headless-admin bootstrap at once, and both must come up without a
// restart, with one admin. (The manifests avoid the moment in normal operation: a fresh install starts one pod and
// the HPA adds the second once it is ready; a rollout adds one new pod at a time.)
// The Deployment is scaled to 0 (which its HPA leaves alone), the database emptied, then both
// replicas are started together.
import { describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { admin, kc, stack } from '../support/live.ts';
import { sql } from '../support/postgres.ts';
import { signIn } from '../support/open-webui.ts';
import { isPodReady, listPods } from '../../lib/kube/pod.ts';
import { waitUntil } from '../../lib/wait.ts';
import { waitUntilRolledOut } from '../../lib/kube/rollout.ts';

const ns = stack.namespace;
const apps = kc.makeApiClient(k8s.AppsV1Api);

const scale = (replicas: number) =>
  apps.patchNamespacedDeploymentScale(
    { name: 'open-webui', namespace: ns, body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );

describe('two replicas on an empty database', { timeout: 420_000 }, () => {
  it('both start, migrate once and create the headless admin once', async () => {
    await scale(0);
    await waitUntil(
      'no Open WebUI pod left',
      async () => ((await listPods(kc, ns, 'app.kubernetes.io/name=open-webui')).length === 0 ? true : undefined),
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    // Empty: Open WebUI's schema gone (pgvector is the database owner's, created again).
    await sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE EXTENSION IF NOT EXISTS vector;');
    expect(await sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).toBe('0');

    await scale(2);
    await waitUntil(
      'both new Open WebUI pods Ready',
      async () => {
        const pods = await listPods(kc, ns, 'app.kubernetes.io/name=open-webui');
        return pods.length === 2 && pods.every(isPodReady) ? pods : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 2000 },
    );
    const pods = await listPods(kc, ns, 'app.kubernetes.io/name=open-webui');
    const started = pods.map((p) => Date.parse(String(p.status!.startTime)));
    expect(Math.abs(started[0]! - started[1]!), 'started together').toBeLessThan(5_000);
    // Open WebUI's own migrations take no lock (without the manifests' advisory lock the loser
    // of the race to create alembic_version crashes and restarts).
    for (const p of pods) {
      for (const c of p.status?.containerStatuses ?? []) expect(c.restartCount, `${p.metadata!.name} restarts`).toBe(0);
    }
    expect(Number(await sql('SELECT count(*) FROM "user"'))).toBe(1);
    expect(await sql('SELECT role FROM "user"')).toBe('admin');
    const { role } = await signIn(stack.urls.openWebui, admin());
    expect(role).toBe('admin');
    // Hand the count back to the HPA's minimum (it resumes once replicas are above 0).
    await waitUntilRolledOut(kc, ns, { timeoutMs: 120_000 });
  });
});
