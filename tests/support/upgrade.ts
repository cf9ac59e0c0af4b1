// Upgrades with data in place: the earlier releases' images (images/*-previous) brought into a
// node, and what an upgrade is judged by: Open WebUI's schema revision, the migrations its log
// says it ran, and the version each app reports.
import type { KubeConfig } from '@kubernetes/client-node';
import { ensureImages } from '../../images/factory/build.ts';
import { loadImages } from '../../dev/lib/cluster.ts';
import { PREVIOUS_RECIPES, previousReleases, type ImageMode } from '../../dev/lib/image-mode.ts';
import { execIn } from '../../lib/kube/pod.ts';

/**
 * The earlier releases (all, or the upstream names in `only`) as kustomize `images:` entries,
 * made available to the node first: built and imported (hermetic; `nodeId` is the node
 * container), or left for the node to pull (upstream).
 */
export async function previousImageEntries(
  mode: ImageMode,
  nodeId: string | undefined,
  log: (l: string) => void,
  only?: string[],
): Promise<{ name: string; newName: string; newTag: string }[]> {
  const swaps = Object.fromEntries(Object.entries(await previousReleases(mode)).filter(([name]) => !only || only.includes(name)));
  if (mode === 'hermetic') {
    if (!nodeId) throw new Error("the earlier releases' hermetic images need a node the harness started, to import them into");
    await ensureImages(
      Object.keys(swaps).map((name) => PREVIOUS_RECIPES[name]!),
      { log },
    );
    await loadImages({ id: nodeId }, Object.values(swaps), log);
  }
  return Object.entries(swaps).map(([name, ref]) => {
    const at = ref.lastIndexOf(':');
    return { name, newName: ref.slice(0, at), newTag: ref.slice(at + 1) };
  });
}

/** Open WebUI's code directory in its image (the upstream layout: /app/backend). */
const MIGRATIONS = '/app/backend/open_webui/migrations';

/**
 * The Alembic revisions from `from` (exclusive) to the head of the pod's Open WebUI, oldest
 * first: the migrations an upgrade from `from` must run, read from the new release's own scripts.
 */
export async function pendingMigrations(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  from: string,
): Promise<{ head: string; revisions: string[] }> {
  const script = [
    'import json, sys',
    'from alembic.config import Config',
    'from alembic.script import ScriptDirectory',
    'c = Config()',
    `c.set_main_option("script_location", "${MIGRATIONS}")`,
    's = ScriptDirectory.from_config(c)',
    'head = s.get_current_head()',
    'revs = [r.revision for r in s.iterate_revisions(head, sys.argv[1])]',
    'print(json.dumps({"head": head, "revisions": revs[::-1]}))',
  ].join('\n');
  const r = await execIn(kc, namespace, pod, 'open-webui', ['python3', '-c', script, from]);
  if (r.code !== 0) throw new Error(`reading the migrations of ${pod}: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout) as { head: string; revisions: string[] };
}

/** The `Running upgrade A -> B` lines Alembic logged, as [A, B] pairs in log order. */
export function migrationsRun(log: string): [string, string][] {
  return [...log.matchAll(/Running upgrade (\w*) -> (\w+)/g)].map((m) => [m[1]!, m[2]!]);
}
