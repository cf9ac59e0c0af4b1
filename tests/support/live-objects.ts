// What was applied against what is live: every rendered object of the given kinds, read back
// from the API server, still carries every field of its render's spec (a ConfigMap's data);
// defaults may add fields.
import { expect } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { renderObjects } from '../../lib/kustomize.ts';

/** Compares the live spec of each rendered object of `kinds` with its render; returns how many. */
export async function expectLiveEqualsRender(kc: k8s.KubeConfig, dir: string, kinds: string[]): Promise<number> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const rendered = (await renderObjects(dir)).filter((o) => kinds.includes(o.kind));
  for (const o of rendered) {
    const live = (await api.read({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace! },
    })) as unknown as Record<string, unknown>;
    const field = o['spec'] !== undefined ? 'spec' : 'data'; // a ConfigMap has data, no spec
    const want = structuredClone(o[field]) as Record<string, unknown>;
    // Images may be swapped for the hermetic equivalents; everything else must be there.
    for (const c of (want['template'] as { spec?: { containers?: { image?: unknown }[] } } | undefined)?.spec?.containers ?? [])
      c.image = expect.any(String);
    // client-node's typed model names NetworkPolicy's `from` `_from` when it reads.
    const liveSpec = JSON.parse(JSON.stringify(live[field]).replace(/"_from":/g, '"from":')) as unknown;
    expect(liveSpec, `${o.kind}/${o.metadata.name}`).toMatchObject(want);
  }
  return rendered.length;
}
