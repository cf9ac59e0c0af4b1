// What a rendered overlay asks of an app container, so that the app-images test runs each image
// exactly as the Deployment would: user, read-only root, capabilities, args, emptyDirs (-> tmpfs),
// ConfigMap and PVC mounts, env (plain values and Secret references), probes. Read from the
// render, never from hand-picked files: a patch an overlay gains is in it.

import type { V1Deployment, V1Probe } from '@kubernetes/client-node';

/** A rendered Kubernetes object, as far as this module reads one. */
interface KubeObject {
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

export interface ContainerContract {
  deployment: string;
  image: string;
  /** `uid:gid` the pod runs the container as */
  user: string;
  uid: number;
  gid: number;
  fsGroup?: number;
  args?: string[];
  command?: string[];
  port: number;
  readOnlyRootFilesystem: boolean;
  allowPrivilegeEscalation: boolean;
  privileged: boolean;
  capDrop: string[];
  capAdd: string[];
  /** plain env values, in manifest order (later patches win) */
  env: Record<string, string>;
  /** env vars taken from Secrets: name -> {secret, key} (the rendered Secret names, hash suffix included) */
  secretEnv: Record<string, { secret: string; key: string; optional: boolean }>;
  /** emptyDir mount path -> sizeLimit (if any) */
  emptyDirs: Record<string, string | undefined>;
  /** ConfigMap mount path -> ConfigMap name */
  configMaps: Record<string, string>;
  /** PVC mount path -> claim name */
  pvcs: Record<string, string>;
  probes: { startup?: string; liveness?: string; readiness?: string };
}

function findDeployment(objects: KubeObject[], name: string): V1Deployment {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
  if (!d) throw new Error(`the render has no Deployment ${name}`);
  return d as unknown as V1Deployment;
}

/** The contract of one container of a rendered Deployment. */
export function containerContract(objects: KubeObject[], deploymentName: string, containerName: string): ContainerContract {
  const deployment = findDeployment(objects, deploymentName);
  const pod = deployment.spec?.template.spec;
  if (!pod) throw new Error(`Deployment ${deploymentName}: no pod template`);
  const container = pod.containers.find((c) => c.name === containerName);
  if (!container) throw new Error(`Deployment ${deploymentName}: no container ${containerName}`);
  const sc = container.securityContext ?? {};
  const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = sc.runAsGroup ?? pod.securityContext?.runAsGroup ?? uid;
  if (uid === undefined || gid === undefined) throw new Error(`Deployment ${deploymentName}: no runAsUser/runAsGroup`);

  const env: Record<string, string> = {};
  const secretEnv: ContainerContract['secretEnv'] = {};
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef)
      secretEnv[v.name] = {
        secret: v.valueFrom.secretKeyRef.name ?? '',
        key: v.valueFrom.secretKeyRef.key,
        optional: v.valueFrom.secretKeyRef.optional === true,
      };
    else throw new Error(`Deployment ${deploymentName}: env ${v.name} has a source this test does not model`);
  }

  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const emptyDirs: ContainerContract['emptyDirs'] = {};
  const configMaps: ContainerContract['configMaps'] = {};
  const pvcs: ContainerContract['pvcs'] = {};
  for (const m of container.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`Deployment ${deploymentName}: mount ${m.mountPath} names no volume`);
    if (v.emptyDir) emptyDirs[m.mountPath] = v.emptyDir.sizeLimit;
    else if (v.configMap) configMaps[m.mountPath] = v.configMap.name ?? '';
    else if (v.persistentVolumeClaim) pvcs[m.mountPath] = v.persistentVolumeClaim.claimName;
    else throw new Error(`Deployment ${deploymentName}: volume ${v.name} has a type this test does not model`);
  }

  const port = container.ports?.[0]?.containerPort;
  if (!port) throw new Error(`Deployment ${deploymentName}: ${containerName} declares no port`);
  const probePath = (p?: V1Probe) => p?.httpGet?.path;
  return {
    deployment: deploymentName,
    image: container.image ?? '',
    user: `${uid}:${gid}`,
    uid,
    gid,
    fsGroup: pod.securityContext?.fsGroup,
    args: container.args,
    command: container.command,
    port,
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem === true,
    allowPrivilegeEscalation: sc.allowPrivilegeEscalation !== false,
    privileged: sc.privileged === true,
    capDrop: sc.capabilities?.drop ?? [],
    capAdd: sc.capabilities?.add ?? [],
    env,
    secretEnv,
    emptyDirs,
    configMaps,
    pvcs,
    probes: {
      startup: probePath(container.startupProbe),
      liveness: probePath(container.livenessProbe),
      readiness: probePath(container.readinessProbe),
    },
  };
}

/**
 * The decoded value of a key of a rendered Secret (secretGenerator output: `data`, base64);
 * undefined for a missing key the reference marks optional (the kubelet then sets no variable).
 */
export function renderedSecret(objects: KubeObject[], name: string, key: string, optional = false): string | undefined {
  const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === name) as
    (KubeObject & { data?: Record<string, string> }) | undefined;
  const value = secret?.data?.[key];
  if (value === undefined && optional) return undefined;
  if (value === undefined) throw new Error(`the render has no Secret ${name} with key ${key}`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Every key of a rendered ConfigMap: the files the kubelet puts where it is mounted. */
export function renderedConfigFiles(objects: KubeObject[], name: string): Record<string, string> {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as
    (KubeObject & { data?: Record<string, string> }) | undefined;
  if (!cm?.data) throw new Error(`the render has no ConfigMap ${name} with data`);
  return cm.data;
}

/** The text of a key of a rendered ConfigMap. */
export function renderedConfig(objects: KubeObject[], name: string, key: string): string {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as
    (KubeObject & { data?: Record<string, string> }) | undefined;
  const value = cm?.data?.[key];
  if (value === undefined) throw new Error(`the render has no ConfigMap ${name} with key ${key}`);
  return value;
}

/** Kubernetes quantity (256Mi, 1Gi, 512M) -> tmpfs size option (bytes). */
export function tmpfsSize(quantity: string | undefined): string | undefined {
  if (!quantity) return undefined;
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!m) throw new Error(`unsupported quantity ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return String(Number(m[1]) * unit);
}
