// The production overlay's way in: its HTTPRoute on the platform's Gateway (gateway-system/public,
// served by the node's Traefik, HTTPS with the run's CA; see production-setup.ts), in front of two
// Open WebUI replicas. The route is accepted, the UI and its API answer over verified TLS, a
// chat streams through, and another host is not routed to Open WebUI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { admin, kc, stack } from '../support/live.ts';
import { chatThroughOpenWebui } from '../support/open-webui.ts';
import { gatewayClient, type GatewayClient } from '../support/gateway.ts';
import { PLATFORM_GATEWAY, PUBLIC_ORIGIN } from '../support/production-setup.ts';

const HOST = new URL(PUBLIC_ORIGIN).hostname;
let gw: GatewayClient;

beforeAll(async () => {
  gw = await gatewayClient(kc, HOST, readFileSync(join(stack.secretsDir, PLATFORM_GATEWAY.caFile), 'utf8'));
});
afterAll(async () => {
  await gw?.close();
});

describe("production behind the platform's Gateway", { timeout: 60_000 }, () => {
  it('has its HTTPRoute accepted by the Gateway public-endpoint.yaml names', async () => {
    const parents = async () => {
      const route = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: stack.namespace,
        plural: 'httproutes',
        name: 'open-webui',
      })) as {
        status?: { parents?: { parentRef: { name: string; namespace?: string }; conditions?: { type: string; status: string }[] }[] };
      };
      return (route.status?.parents ?? []).map((p) => [
        `${p.parentRef.namespace}/${p.parentRef.name}`,
        Object.fromEntries((p.conditions ?? []).map((c) => [c.type, c.status])),
      ]);
    };
    await expect
      .poll(parents, { timeout: 30_000, interval: 1_000 })
      .toEqual([
        [`${PLATFORM_GATEWAY.namespace}/${PLATFORM_GATEWAY.name}`, expect.objectContaining({ Accepted: 'True', ResolvedRefs: 'True' })],
      ]);
  });

  it('serves the UI and its API over verified TLS for the public host', async () => {
    const page = await gw.fetch(`${gw.httpsOrigin}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<title>Open WebUI<\/title>/);
    const config = await gw.fetch(`${gw.httpsOrigin}/api/config`);
    expect(config.status).toBe(200);
    expect(((await config.json()) as { name?: string }).name).toMatch(/Open WebUI/);
  });

  it('streams a chat through the Gateway to the replicas', async () => {
    const { got, want } = await chatThroughOpenWebui(gw.httpsOrigin, admin(), 'Hello through the platform Gateway', gw.fetch);
    expect(got).toEqual(want);
  });

  it('routes no other host to Open WebUI', async () => {
    const r = await gw.fetchUnverified(`${gw.httpsOrigin.replace(HOST, 'other.example.com')}/api/config`);
    expect(r.status).toBe(404);
  });
});
