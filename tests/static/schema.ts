// Offline schema validation of rendered objects with kubernetes-models (the Kubernetes
// OpenAPI schemas compiled to validators, the Gateway API's and the Prometheus Operator's from
// their CRDs). Route is OpenShift's,
// outside those schemas.
import type { KubeObject } from '../../lib/kustomize.ts';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Gateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  // the Gateway API's CRD schemas (kubernetes-models' gateway-api package)
  'gateway.networking.k8s.io/v1/Gateway': Gateway,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
  // the Prometheus Operator's CRD schemas (components/monitoring)
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** route.openshift.io/v1 Route: the fields this project uses, checked by hand. */
function validateRoute(o: KubeObject): void {
  const spec = o['spec'] as { to?: { kind?: string; name?: string }; tls?: { termination?: string } } | undefined;
  if (spec?.to?.kind !== 'Service' || !spec.to.name) throw new Error('spec.to must name a Service');
  const t = spec.tls?.termination;
  if (t !== undefined && !['edge', 'passthrough', 'reencrypt'].includes(t))
    throw new Error(`spec.tls.termination "${t}" is not edge|passthrough|reencrypt`);
}

/**
 * kustomize folds long base64 Secret values at 76 columns; the API server's decoder (Go's
 * encoding/base64) skips those newlines, the schema's "byte" format does not. Unfold them.
 */
function normalise(o: KubeObject): KubeObject {
  if (o.kind !== 'Secret' || !o['data']) return o;
  const data = Object.fromEntries(Object.entries(o['data'] as Record<string, string>).map(([k, v]) => [k, v.replace(/\n/g, '')]));
  return { ...o, data };
}

/** Returns one message per invalid object; an unknown kind is an error, not a pass. */
export function validateObjects(objects: KubeObject[]): string[] {
  const errors: string[] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    try {
      if (o.apiVersion === 'route.openshift.io/v1' && o.kind === 'Route') {
        validateRoute(o);
        continue;
      }
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      if (!Model) {
        errors.push(`${id}: no schema known for ${o.apiVersion} ${o.kind}`);
        continue;
      }
      new Model(normalise(o) as never).validate();
    } catch (err) {
      errors.push(`${id}: ${(err as Error).message}`);
    }
  }
  return errors;
}
