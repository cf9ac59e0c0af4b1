// What the manifests ask of an app container, read from the YAML so that the app-images smoke test
// runs each image exactly as the Deployment would: user, read-only root, capabilities, args,
// emptyDirs (-> tmpfs), ConfigMap and PVC mounts, env (plain values and Secret references), probes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { MANIFESTS_DIR } from '../../dev/lib/kustomize.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: unknown; fieldRef?: unknown };
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    runAsUser?: number;
    runAsGroup?: number;
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}

interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string; medium?: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string };
}

interface Deployment {
  metadata: { name: string };
  spec: {
    template: {
      spec: {
        securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number; runAsNonRoot?: boolean };
        containers: Container[];
        volumes?: Volume[];
      };
    };
  };
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
  /** env vars taken from Secrets: name -> {secret, key} */
  secretEnv: Record<string, { secret: string; key: string }>;
  /** emptyDir mount path -> sizeLimit (if any) */
  emptyDirs: Record<string, string | undefined>;
  /** ConfigMap mount path -> ConfigMap name */
  configMaps: Record<string, string>;
  /** PVC mount path -> claim name */
  pvcs: Record<string, string>;
  probes: { startup?: string; liveness?: string; readiness?: string };
}

function readDeployment(file: string): Deployment {
  return parse(readFileSync(file, 'utf8')) as Deployment;
}

/**
 * The contract of `containerName` in manifests/base/<deploymentFile>, with the env of strategic
 * merge patches (component/overlay Deployment patches, merged by env var name) applied on top.
 */
export function containerContract(deploymentFile: string, containerName: string, envPatches: string[] = []): ContainerContract {
  const deployment = readDeployment(path.join(MANIFESTS_DIR, 'base', deploymentFile));
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === containerName);
  if (!container) throw new Error(`${deploymentFile}: no container ${containerName}`);
  const sc = container.securityContext ?? {};
  const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = sc.runAsGroup ?? pod.securityContext?.runAsGroup ?? uid;
  if (uid === undefined || gid === undefined) throw new Error(`${deploymentFile}: no runAsUser/runAsGroup`);

  const envVars: EnvVar[] = [...(container.env ?? [])];
  for (const patchFile of envPatches) {
    const patch = readDeployment(path.join(MANIFESTS_DIR, patchFile));
    const patched = patch.spec.template.spec.containers.find((c) => c.name === containerName);
    for (const v of patched?.env ?? []) {
      const i = envVars.findIndex((e) => e.name === v.name);
      if (i >= 0) envVars[i] = v;
      else envVars.push(v);
    }
  }
  const env: Record<string, string> = {};
  const secretEnv: ContainerContract['secretEnv'] = {};
  for (const v of envVars) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef) secretEnv[v.name] = { secret: v.valueFrom.secretKeyRef.name, key: v.valueFrom.secretKeyRef.key };
    else throw new Error(`${deploymentFile}: env ${v.name} has a source this test does not model`);
  }

  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const emptyDirs: ContainerContract['emptyDirs'] = {};
  const configMaps: ContainerContract['configMaps'] = {};
  const pvcs: ContainerContract['pvcs'] = {};
  for (const m of container.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`${deploymentFile}: mount ${m.mountPath} names no volume`);
    if (v.emptyDir) emptyDirs[m.mountPath] = v.emptyDir.sizeLimit;
    else if (v.configMap) configMaps[m.mountPath] = v.configMap.name;
    else if (v.persistentVolumeClaim) pvcs[m.mountPath] = v.persistentVolumeClaim.claimName;
    else throw new Error(`${deploymentFile}: volume ${v.name} has a type this test does not model`);
  }

  const port = container.ports?.[0]?.containerPort;
  if (!port) throw new Error(`${deploymentFile}: ${containerName} declares no port`);
  const probePath = (p?: Probe) => p?.httpGet?.path;
  return {
    deployment: deployment.metadata.name,
    image: container.image,
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
    probes: { startup: probePath(container.startupProbe), liveness: probePath(container.livenessProbe), readiness: probePath(container.readinessProbe) },
  };
}

/** Kubernetes quantity (256Mi, 1Gi, 512M) -> tmpfs size option (bytes). */
export function tmpfsSize(quantity: string | undefined): string | undefined {
  if (!quantity) return undefined;
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!m) throw new Error(`unsupported quantity ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return String(Number(m[1]) * unit);
}
