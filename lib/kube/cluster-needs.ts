// What an overlay asks of the cluster beyond the API: storage that several pods share, the
// Gateway API (its CRDs, the Gateway a route attaches to), an ingress controller, a metrics API. On a node the harness started, it provides what it can
// (ReadWriteMany from local-path's shared-filesystem mode: on one node every path is shared);
// anything still missing is said plainly, so nobody waits on a PVC that never binds.
import * as k8s from '@kubernetes/client-node';
import type { KubeObject } from '../kustomize.ts';
import { waitUntil } from '../wait.ts';

const LOCAL_PATH = { namespace: 'kube-system', configMap: 'local-path-config', app: 'local-path-provisioner' };

interface ClaimSpec {
  accessModes?: string[];
}

/** `Kind/name` of every claim (PVCs and StatefulSet claim templates) that asks for ReadWriteMany. */
export function sharedClaims(objects: KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (o.kind === 'PersistentVolumeClaim' && ((o['spec'] as ClaimSpec).accessModes ?? []).includes('ReadWriteMany'))
      out.push(`PersistentVolumeClaim/${o.metadata.name}`);
    if (o.kind === 'StatefulSet') {
      for (const t of (o['spec'] as { volumeClaimTemplates?: { metadata?: { name?: string }; spec?: ClaimSpec }[] }).volumeClaimTemplates ??
        []) {
        if ((t.spec?.accessModes ?? []).includes('ReadWriteMany')) out.push(`StatefulSet/${o.metadata.name} claim ${t.metadata?.name}`);
      }
    }
  }
  return out;
}

/**
 * Switches the node's local-path provisioner to its shared-filesystem mode (ReadWriteOnce and
 * ReadWriteMany from the same directory; right on a single node) and restarts it to read that.
 */
async function enableSharedLocalPath(kc: k8s.KubeConfig, log: (l: string) => void): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const cm = await core.readNamespacedConfigMap({ name: LOCAL_PATH.configMap, namespace: LOCAL_PATH.namespace });
  const config = JSON.parse(cm.data?.['config.json'] ?? '{}') as { nodePathMap?: { paths?: string[] }[]; sharedFileSystemPath?: string };
  if (config.sharedFileSystemPath) return;
  const path = config.nodePathMap?.[0]?.paths?.[0];
  if (!path) throw new Error(`${LOCAL_PATH.namespace}/${LOCAL_PATH.configMap} has no nodePathMap path to share`);
  await core.patchNamespacedConfigMap(
    {
      name: LOCAL_PATH.configMap,
      namespace: LOCAL_PATH.namespace,
      body: { data: { 'config.json': JSON.stringify({ sharedFileSystemPath: path }) } },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  // The provisioner re-reads its mounted config only after the kubelet syncs the volume (up to
  // a minute): a new pod reads it at once.
  const selector = `app=${LOCAL_PATH.app}`;
  const old = (await core.listNamespacedPod({ namespace: LOCAL_PATH.namespace, labelSelector: selector })).items.map(
    (p) => p.metadata!.name!,
  );
  await core.deleteCollectionNamespacedPod({ namespace: LOCAL_PATH.namespace, labelSelector: selector, gracePeriodSeconds: 0 });
  await waitUntil(
    'the local-path provisioner restarted in shared-filesystem mode',
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: LOCAL_PATH.namespace, labelSelector: selector })).items;
      return (
        pods.some(
          (p) => !old.includes(p.metadata!.name!) && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ) || undefined
      );
    },
    { timeoutMs: 60_000 },
  );
  log(`storage: local-path serves ReadWriteMany from ${path} (shared-filesystem mode; one node)`);
}

const GATEWAY_API = { group: 'gateway.networking.k8s.io', version: 'v1' };

/**
 * k3s installs some add-ons after its node is Ready (the Gateway API CRDs come with Traefik's
 * helm-controller job, local-path's ConfigMap and metrics-server's APIService with the deploy
 * controller's manifests). On a node the harness just started, wait for those the apply needs.
 */
export const ADDON_WAIT_MS = 5 * 60_000;

/** Waits until the node's add-ons the objects rely on exist (a node the harness started). */
export async function waitForAddons(
  kc: k8s.KubeConfig,
  objects: KubeObject[],
  log: (l: string) => void,
  timeoutMs = ADDON_WAIT_MS,
): Promise<void> {
  const waits: Promise<unknown>[] = [];
  const t0 = Date.now();
  const opts = { timeoutMs, intervalMs: 2000 };
  const gatewayKinds = [...new Set(objects.filter((o) => o.apiVersion.startsWith(`${GATEWAY_API.group}/`)).map((o) => o.kind))];
  if (gatewayKinds.length > 0) {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    waits.push(
      waitUntil(
        `the Gateway API CRDs for ${gatewayKinds.join(', ')} established`,
        async () => {
          const established = (await ext.listCustomResourceDefinition()).items
            .filter((c) => c.spec.group === GATEWAY_API.group)
            .filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))
            .map((c) => c.spec.names.kind);
          return gatewayKinds.every((k) => established.includes(k)) || undefined;
        },
        opts,
      ),
    );
  }
  if (sharedClaims(objects).length > 0) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    waits.push(
      waitUntil(
        `ConfigMap ${LOCAL_PATH.namespace}/${LOCAL_PATH.configMap} (the local-path add-on)`,
        () => core.readNamespacedConfigMap({ name: LOCAL_PATH.configMap, namespace: LOCAL_PATH.namespace }),
        opts,
      ),
    );
  }
  if (objects.some((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const reg = kc.makeApiClient(k8s.ApiregistrationV1Api);
    waits.push(
      waitUntil(
        'the APIService v1beta1.metrics.k8s.io (metrics-server)',
        () => reg.readAPIService({ name: 'v1beta1.metrics.k8s.io' }),
        opts,
      ),
    );
  }
  if (waits.length === 0) return;
  await Promise.all(waits);
  log(`node add-ons the overlay relies on are in place (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** The cluster serves the Gateway API kinds the overlay uses, or this says how to get them. */
export class GatewayApiMissingError extends Error {
  constructor(kinds: string[]) {
    super(
      `The overlay routes users in through the Gateway API, but this cluster has no Gateway API CRD for ${kinds.join(', ')}. ` +
        'k3s installs them with Traefik (do not pass --disable=traefik); elsewhere install the standard channel of sigs.k8s.io/gateway-api ' +
        "(its release's standard-install.yaml) and a controller, or swap components/gateway for components/ingress in the overlay.",
    );
    this.name = 'GatewayApiMissingError';
  }
}

/** Throws GatewayApiMissingError, or logs a route whose Gateway is neither in the overlay nor in the cluster. */
export async function checkGatewayApi(kc: k8s.KubeConfig, objects: KubeObject[], log: (l: string) => void): Promise<void> {
  const used = objects.filter((o) => o.apiVersion.startsWith(`${GATEWAY_API.group}/`));
  if (used.length === 0) return;
  const crds = (await kc.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition()).items
    .filter((c) => c.spec.group === GATEWAY_API.group)
    .map((c) => c.spec.names.kind);
  const missing = [...new Set(used.map((o) => o.kind))].filter((k) => !crds.includes(k));
  if (missing.length > 0) throw new GatewayApiMissingError(missing);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const route of used.filter((o) => o.kind === 'HTTPRoute')) {
    for (const ref of (route['spec'] as { parentRefs?: { name: string; namespace?: string }[] }).parentRefs ?? []) {
      const namespace = ref.namespace ?? route.metadata.namespace ?? 'default';
      if (objects.some((o) => o.kind === 'Gateway' && o.metadata.name === ref.name && (o.metadata.namespace ?? namespace) === namespace))
        continue;
      const found = await custom.getNamespacedCustomObject({ ...GATEWAY_API, namespace, plural: 'gateways', name: ref.name }).then(
        () => true,
        () => false,
      );
      if (!found)
        log(
          `gateway: HTTPRoute/${route.metadata.name} attaches to Gateway ${namespace}/${ref.name}, which this cluster lacks: applied, but it serves nothing until that Gateway exists (public-endpoint.yaml names it); use the port-forwards`,
        );
    }
  }
}

/** Provides or reports what the overlay needs; `ownNode` when the harness started the node. */
export async function prepareClusterFor(
  kc: k8s.KubeConfig,
  objects: KubeObject[],
  opts: { ownNode: boolean; log: (l: string) => void },
): Promise<void> {
  const { log } = opts;
  if (opts.ownNode) await waitForAddons(kc, objects, log);
  const shared = sharedClaims(objects);
  if (shared.length > 0) {
    if (opts.ownNode) await enableSharedLocalPath(kc, log);
    else
      log(
        `storage: ${shared.join(', ')} ask(s) for ReadWriteMany: the cluster's default StorageClass must provide it (NFS, CephFS, EFS...), or the claim stays Pending`,
      );
  }

  await checkGatewayApi(kc, objects, log);

  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  if (ingresses.length > 0) {
    const classes = (await kc.makeApiClient(k8s.NetworkingV1Api).listIngressClass()).items.map((c) => c.metadata!.name!);
    for (const ing of ingresses) {
      const wanted = (ing['spec'] as { ingressClassName?: string }).ingressClassName;
      if (!wanted || !classes.includes(wanted)) {
        log(
          `ingress: Ingress/${ing.metadata.name} wants IngressClass "${wanted ?? '(default)'}", which this cluster lacks (it has ${classes.length ? classes.join(', ') : 'none'}): applied, but it serves nothing; use the port-forwards`,
        );
      }
    }
  }

  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
  if (hpas.length > 0) {
    const metrics = await kc
      .makeApiClient(k8s.ApiregistrationV1Api)
      .readAPIService({ name: 'v1beta1.metrics.k8s.io' })
      .then(() => true)
      .catch(() => false);
    if (!metrics)
      log(
        `autoscaling: no metrics API (metrics-server) on this cluster: ${hpas.map((h) => `HorizontalPodAutoscaler/${h.metadata.name}`).join(', ')} hold their minReplicas and do not scale on CPU`,
      );
  }
}
