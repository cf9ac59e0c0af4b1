// Kube clients: kubeconfigs, and the API's own words when a call fails.
import * as k8s from '@kubernetes/client-node';

export function kubeConfigFrom(yamlText: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(yamlText);
  return kc;
}

export function kubeConfigFromFile(path: string, context?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context)) {
      throw new Error(
        `No context "${context}" in ${path}. Contexts: ${kc
          .getContexts()
          .map((c) => c.name)
          .join(', ')}`,
      );
    }
    kc.setCurrentContext(context);
  }
  return kc;
}

/** The API's own message for a failed call (status message or body), not just "HTTP 422". */
export function apiMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string; code?: number };
  if (typeof e.body === 'string') {
    try {
      return (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      return e.body;
    }
  }
  if (e.body && typeof e.body === 'object') return (e.body as { message?: string }).message ?? JSON.stringify(e.body);
  // fetch's own "fetch failed" hides the reason (refused, TLS name mismatch...) in its cause.
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `${e.message ?? String(err)}${cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})`.replace('( ', '(') : ''}`;
}
