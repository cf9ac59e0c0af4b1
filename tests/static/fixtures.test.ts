// Every check is shown to fail: each fixture breaks one rule on top of a real overlay, and the
// check meant for it must name the problem. (The real overlays pass the same checks in
// overlays.test.ts, so a check that always fails would show there.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import type { KubeObject } from '../../lib/kustomize.ts';
import * as policy from './policy.ts';
import { validateObjects } from './schema.ts';
import { checkLiteLLMConfig } from './litellm-config.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const DEV_FLOWS = [...policy.BASE_FLOWS, ...policy.DEV_FLOWS];
const CASES: Record<string, { check: (o: KubeObject[]) => string[]; finds: RegExp }> = {
  'root-container': {
    check: (o) => policy.checkRestricted(o, { fixedIds: true }),
    finds: /Deployment\/litellm.*(runAsNonRoot must be true|UID 0)/,
  },
  'privileged-init': { check: (o) => policy.checkRestricted(o, { fixedIds: true }), finds: /initContainer fix-perms: is privileged/ },
  'latest-image': { check: policy.checkPinnedImages, finds: /open-webui:main" uses the mutable tag "main"/ },
  'missing-default-deny': { check: policy.checkDefaultDeny, finds: /no default-deny NetworkPolicy/ },
  'writable-root': { check: policy.checkReadOnlyRoot, finds: /Deployment\/open-webui container open-webui: readOnlyRootFilesystem/ },
  'health-probe': { check: policy.checkProbes, finds: /livenessProbe uses \/health/ },
  'unbounded-emptydir': { check: policy.checkResources, finds: /Deployment\/litellm: emptyDir tmp has no sizeLimit/ },
  'no-ephemeral-limit': { check: policy.checkResources, finds: /Deployment\/open-webui container open-webui: no limits.ephemeral-storage/ },
  'pinned-autoscaled-replicas': {
    check: policy.checkAutoscaledReplicas,
    finds: /Deployment\/open-webui: sets spec.replicas although HorizontalPodAutoscaler\/open-webui owns it/,
  },
  'host-user-uid': {
    check: policy.checkHighIds,
    finds: /Deployment\/open-webui container open-webui: runAsUser 1000 \(use 10000 or above\)/,
  },
  'no-limits': { check: policy.checkResources, finds: /Deployment\/litellm container litellm: no limits.cpu/ },
  'literal-secret': { check: policy.checkNoLiteralSecrets, finds: /OPENAI_API_KEY is a literal value/ },
  'auth-off': { check: policy.checkAuth, finds: /WEBUI_AUTH must be "True"/ },
  'path-rewrite': {
    check: policy.checkIngress,
    finds:
      /HTTPRoute\/open-webui: path \/chat \(Open WebUI must be served at \/\)\nHTTPRoute\/open-webui: filter URLRewrite rewrites paths/,
  },
  'baseline-namespace': { check: policy.checkPodSecurityAdmission, finds: /enforce must be restricted/ },
  'open-egress': {
    check: (o) => policy.checkFlows(o, DEV_FLOWS, policy.K3S_CLUSTER),
    finds: /Open WebUI cannot reach the internet: allowed/,
  },
  'token-automount': { check: policy.checkPodHardening, finds: /automountServiceAccountToken must be false/ },
  'rolling-sqlite': { check: policy.checkOpenWebUiScaling, finds: /needs strategy Recreate/ },
  'vector-db-unset': { check: policy.checkImageDefaults, finds: /container open-webui: VECTOR_DB is not set/ },
  'shared-chroma': { check: policy.checkImageDefaults, finds: /VECTOR_DB=chroma \(embedded, one writer\) with several replicas/ },
  'pool-over-budget': {
    check: policy.checkConnectionBudget,
    finds: /Deployment\/open-webui: 5 pods x 44 connections = 220, over the budget of 85/,
  },
  'same-probes': {
    check: policy.checkProbes,
    finds: /StatefulSet\/postgres container postgres: livenessProbe and readinessProbe run the same check/,
  },
  'schema-error': { check: validateObjects, finds: /Service\/litellm: .*port must be integer/ },
  'unknown-model': { check: (o) => checkLiteLLMConfig(o), finds: /claude-3-7-sonnet-latest is not in the model map/ },
  'deprecated-model': { check: (o) => checkLiteLLMConfig(o), finds: /claude-mythos-preview is deprecated since 2026-06-09/ },
  'no-fallback': {
    check: (o) => checkLiteLLMConfig(o),
    finds:
      /router_settings\.stream_timeout must be set[\s\S]*claude-haiku-5-5 has no fallback model[\s\S]*claude-sonnet-4-5 is not a configured model_name/,
  },
  'embedding-fallback': {
    check: (o) => checkLiteLLMConfig(o),
    finds:
      /voyage-4: api_base must be os\.environ\/VOYAGE_API_BASE[\s\S]*voyage-4 is an embedding model, which must never fall back[\s\S]*callbacks must include model_listing\.chat_models_only/,
  },
};

let ws: Workspace;
beforeAll(async () => {
  ws = await createWorkspace();
});
afterAll(() => ws?.[Symbol.dispose]());

describe('deliberately broken fixtures', () => {
  it('each have a case here, and each case a fixture', () => {
    expect(readdirSync(ws.fixturesDir).sort()).toEqual(Object.keys(CASES).sort());
  });

  it.concurrent.each(Object.keys(CASES))('%s is caught', async (name) => {
    const { check, finds } = CASES[name]!;
    const objects = await ws.render(join(ws.fixturesDir, name));
    const violations = check(objects);
    expect(violations.join('\n')).toMatch(finds);
  });
});
