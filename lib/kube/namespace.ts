// Namespaces: existence, creation that tolerates an existing one, deletion that waits.
import * as k8s from '@kubernetes/client-node';
import { waitUntil } from '../wait.ts';

export async function namespaceExists(kc: k8s.KubeConfig, name: string): Promise<boolean> {
  return kc
    .makeApiClient(k8s.CoreV1Api)
    .readNamespace({ name })
    .then(
      () => true,
      (err: { code?: number }) => {
        if (err.code === 404) return false;
        throw err;
      },
    );
}

/** Creates the namespace with `labels` unless it exists. */
export async function ensureNamespace(kc: k8s.KubeConfig, name: string, labels: Record<string, string> = {}): Promise<void> {
  await kc
    .makeApiClient(k8s.CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
}

/** Deletes the namespace and waits until it is gone (a following apply must not meet it terminating); false if there was none. */
export async function deleteNamespace(kc: k8s.KubeConfig, name: string, timeoutMs = 120_000): Promise<boolean> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const deleted = await core.deleteNamespace({ name }).then(
    () => true,
    (err: { code?: number }) => {
      if (err.code === 404) return false;
      throw err;
    },
  );
  if (deleted) {
    await waitUntil(`namespace ${name} gone`, async () => ((await namespaceExists(kc, name)) ? undefined : true), {
      timeoutMs,
      describe: async () => `phase ${(await core.readNamespace({ name })).status?.phase}`,
    });
  }
  return deleted;
}
