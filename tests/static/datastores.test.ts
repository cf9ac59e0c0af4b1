// The managed-datastore parameters of overlays/production, rendered: the egress policy's ports and
// ranges, and the two components a team adds for its provider (the CA at a fixed path, public
// endpoints). The live proof is tests/production/managed-datastores.test.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { KubeObject } from '../../lib/kustomize.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
const PORTS = [5432, 6432, 6543, 6379, 6380, 6378];

interface Peer {
  ipBlock?: { cidr: string; except?: string[] };
}
interface Rule {
  to: Peer[];
  ports: { port: number }[];
}
const egressOf = (objects: KubeObject[]) =>
  (objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'open-webui-datastores')!['spec'] as { egress: Rule[] }).egress;

let ws: Workspace;
let plain: KubeObject[];
let withComponents: KubeObject[];

beforeAll(async () => {
  ws = await createWorkspace();
  plain = await ws.render(join(ws.overlaysDir, 'production'));
  const dir = join(ws.root, 'team');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      resources: ['../manifests/overlays/production'],
      components: ['../manifests/components/datastores-ca', '../manifests/components/datastores-public-endpoints'],
    }),
  );
  withComponents = await ws.render(dir);
}, 60_000);
afterAll(() => ws?.[Symbol.dispose]());

describe("overlays/production's datastore parameters", () => {
  it("opens the managed offerings' ports to private ranges only", () => {
    const egress = egressOf(plain);
    expect(egress).toHaveLength(1);
    expect(egress[0]!.to.map((p) => p.ipBlock?.cidr)).toEqual(PRIVATE);
    expect(egress[0]!.ports.map((p) => p.port)).toEqual(PORTS);
  });

  it('components/datastores-public-endpoints adds the public addresses on the same ports, private ranges excepted', () => {
    const [rule] = egressOf(withComponents);
    expect(rule!.ports.map((p) => p.port)).toEqual(PORTS);
    const pub = rule!.to.find((p) => p.ipBlock?.cidr === '0.0.0.0/0');
    expect(pub?.ipBlock?.except).toEqual(expect.arrayContaining(PRIVATE));
    expect(
      egressOf(plain)[0]!.to.some((p) => p.ipBlock?.cidr === '0.0.0.0/0'),
      'control: not without the component',
    ).toBe(false);
  });

  it('components/datastores-ca mounts ConfigMap datastores-ca where the documented URLs name the CA', () => {
    const d = withComponents.find((o) => o.kind === 'Deployment' && o.metadata.name === 'open-webui')!;
    const pod = (
      d['spec'] as {
        template: {
          spec: {
            containers: { name: string; volumeMounts: { name: string; mountPath: string }[] }[];
            volumes: { name: string; configMap?: { name: string } }[];
          };
        };
      }
    ).template.spec;
    const mount = pod.containers.find((c) => c.name === 'open-webui')!.volumeMounts.find((m) => m.name === 'datastores-ca');
    expect(mount?.mountPath).toBe('/etc/chat-stack/datastores-ca');
    expect(pod.volumes.find((v) => v.name === 'datastores-ca')?.configMap?.name).toBe('datastores-ca');
  });
});
