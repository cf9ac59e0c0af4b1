// The checks every command makes before it touches a cluster, in one place: `up()` (dev/lib/stack.ts)
// and the operator commands' target (lib/stack-target.ts) say the same thing about the same mistake.
import { existsSync } from 'node:fs';
import type { KubeObject } from './kustomize.ts';

/** A `--kubeconfig` that was given must be a file. */
export function assertKubeconfigFile(path: string | undefined): void {
  if (path !== undefined && !existsSync(path)) throw new Error(`--kubeconfig ${path}: no such file`);
}

/** The stack's namespace in a render: `wanted` when given (it must be rendered), else the only one. */
export function stackNamespace(objects: KubeObject[], overlay: string, wanted?: string): string {
  const namespaces = objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
  if (wanted !== undefined) {
    if (!namespaces.includes(wanted))
      throw new Error(`overlay ${overlay} renders no Namespace ${wanted} (it has ${namespaces.join(', ') || 'none'})`);
    return wanted;
  }
  if (namespaces.length !== 1)
    throw new Error(
      `overlay ${overlay} renders ${namespaces.length ? `several Namespaces (${namespaces.join(', ')}): say which is the stack's` : 'no Namespace'}`,
    );
  return namespaces[0]!;
}
