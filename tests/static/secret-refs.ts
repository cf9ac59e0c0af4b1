// Which Secrets a rendered overlay names, and which of their keys it reads: what a team must
// create when it applies an overlay itself (GitOps, a secret manager), and what the documented
// table in docs/operations.md ("Secrets") must list.
import type { KubeObject } from '../../lib/kustomize.ts';

/** The whole Secret, read as environment (envFrom): every key of it is used. */
export const WHOLE = '*';

interface Container {
  env?: { valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  envFrom?: { secretRef?: { name: string; optional?: boolean } }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { secret?: { secretName: string; items?: { key: string }[] } }[];
}

/**
 * Secret name → the keys read (WHOLE for envFrom and whole-Secret volumes). `optional` selects:
 * false (the default) the keys a Secret must have, true the optional ones (secretKeyRef
 * `optional: true`: present only for a while, such as the second key of a rotation).
 */
export function secretReferences(objects: KubeObject[], optional = false): Map<string, Set<string>> {
  const refs = new Map<string, Set<string>>();
  const add = (name: string, key: string, isOptional = false) => {
    if (isOptional === optional) refs.set(name, (refs.get(name) ?? new Set()).add(key));
  };
  for (const o of objects) {
    const pod = (o['spec'] as { template?: { spec?: PodSpec } } | undefined)?.template?.spec;
    for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
      for (const e of c.env ?? [])
        if (e.valueFrom?.secretKeyRef)
          add(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key, e.valueFrom.secretKeyRef.optional === true);
      for (const e of c.envFrom ?? []) if (e.secretRef) add(e.secretRef.name, WHOLE);
    }
    for (const v of pod?.volumes ?? [])
      if (v.secret) for (const k of v.secret.items?.map((i) => i.key) ?? [WHOLE]) add(v.secret.secretName, k);
    if (o.kind === 'Gateway') {
      const listeners = (o['spec'] as { listeners?: { tls?: { certificateRefs?: { kind?: string; name: string }[] } }[] }).listeners ?? [];
      for (const l of listeners)
        for (const r of l.tls?.certificateRefs ?? [])
          if ((r.kind ?? 'Secret') === 'Secret') ['tls.crt', 'tls.key'].forEach((k) => add(r.name, k));
    }
  }
  return refs;
}
