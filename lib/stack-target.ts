// Which cluster and namespace a command acts on: `--kubeconfig` (and `--context`) when given,
// else the node of a running `npm run dev:up`; the namespace is the one the overlay renders.
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeConfigFromFile } from './kube/config.ts';
import { overlayDir, renderObjects } from './kustomize.ts';
import { STATE_FILE, readStackRecord } from './stack-record.ts';
import { assertKubeconfigFile, stackNamespace } from './preflight.ts';

export interface StackTarget {
  kc: KubeConfig;
  namespace: string;
  /** where the kube config came from, for messages */
  from: string;
}

export async function stackTarget(opts: { overlay: string; kubeconfig?: string; context?: string }): Promise<StackTarget> {
  const objects = await renderObjects(overlayDir(opts.overlay)); // a wrong or malformed overlay fails here
  const namespace = stackNamespace(objects, opts.overlay);
  if (opts.kubeconfig) {
    assertKubeconfigFile(opts.kubeconfig);
    return { kc: kubeConfigFromFile(opts.kubeconfig, opts.context), namespace, from: opts.kubeconfig };
  }
  const state = readStackRecord();
  if (!state)
    throw new Error(
      `no running dev stack (${STATE_FILE} is missing): start one with \`npm run dev:up -- --overlay ${opts.overlay}\`, or pass --kubeconfig for another cluster`,
    );
  if (state.overlay !== opts.overlay)
    throw new Error(
      `the running dev stack is overlay ${state.overlay}, not ${opts.overlay}: pass --overlay ${state.overlay}, or --kubeconfig for another cluster`,
    );
  return { kc: kubeConfigFromFile(state.kubeconfig), namespace, from: `dev:up's node (${state.kubeconfig})` };
}
