// components/monitoring's alerts under promtool (from the same Prometheus module as the live
// test's scraper, images/prometheus): the rule file rendered from the PrometheusRule passes
// `promtool check rules`, and `promtool test rules` runs tests/integration/alerts/, where each
// alert has a case that fires after its real `for` and one that must not.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureImages } from '../../images/factory/build.ts';
import { loadRecipes } from '../../images/factory/recipes.ts';
import { dockerTry, imageExists, tryPull } from '../../lib/docker.ts';
import { REPO_ROOT, renderObjects } from '../../lib/kustomize.ts';
import { stack as devStack } from '../support/live.ts';
import { ruleFileFor, writeMonitoredDev, type PrometheusRule } from '../support/prometheus.ts';
import { createWorkspace, type Workspace } from '../support/workspace.ts';

const TESTS = join(REPO_ROOT, 'tests/integration/alerts/chat-stack.promtool.yaml');
let ws: Workspace;
let dir: string;
let image: string;
let rule: PrometheusRule;

/** promtool in the Prometheus image of the run's mode, on the files of `dir` (read-only, as nobody). */
async function promtool(...args: string[]) {
  return dockerTry(
    'run',
    '--rm',
    '--network',
    'none',
    '-v',
    `${dir}:/rules:ro`,
    '-w',
    '/rules',
    '--entrypoint',
    '/bin/promtool',
    image,
    ...args,
  );
}

beforeAll(async () => {
  if (devStack.images.mode === 'hermetic') {
    image = (await ensureImages(['prometheus'])).find((b) => b.name === 'prometheus')!.ref;
  } else {
    image = String((await loadRecipes()).get('prometheus')!.inputs['upstream']);
    if (!(await imageExists(image)) && (await tryPull(image, 10 * 60_000)).code !== 0) throw new Error(`cannot pull ${image}`);
  }
  ws = await createWorkspace();
  writeMonitoredDev(join(ws.root, 'monitored'), 'chat', 'monitoring');
  rule = (await renderObjects(join(ws.root, 'monitored'))).find((o) => o.kind === 'PrometheusRule') as PrometheusRule;
  dir = mkdtempSync(join(tmpdir(), 'chatstack-promtool-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'chat-stack.rules.yaml'), stringify(ruleFileFor(rule)), { mode: 0o644 });
  copyFileSync(TESTS, join(dir, 'chat-stack.promtool.yaml'));
  chmodSync(join(dir, 'chat-stack.promtool.yaml'), 0o644);
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  ws?.[Symbol.dispose]();
});

describe('the alert rules under promtool', { timeout: 60_000 }, () => {
  it('pass promtool check rules (PromQL, templates, names)', async () => {
    const r = await promtool('check', 'rules', 'chat-stack.rules.yaml');
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('pass their unit tests, and every alert has one', async () => {
    const r = await promtool('test', 'rules', 'chat-stack.promtool.yaml');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
    const tested = new Set([...readFileSync(TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    const alerts = rule.spec.groups.flatMap((g) => g.rules.flatMap((x) => (x.alert ? [x.alert] : [])));
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });

  it('fail when an alert does not fire as its test says (the unit tests can fail)', async () => {
    // The same tests against rules whose thresholds nothing reaches.
    const never = ruleFileFor({
      ...rule,
      spec: { groups: rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map((x) => ({ ...x, expr: `(${x.expr}) > 1e12` })) })) },
    });
    writeFileSync(join(dir, 'chat-stack.rules.yaml'), stringify(never), { mode: 0o644 });
    try {
      const r = await promtool('test', 'rules', 'chat-stack.promtool.yaml');
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/FAILED/);
    } finally {
      writeFileSync(join(dir, 'chat-stack.rules.yaml'), stringify(ruleFileFor(rule)), { mode: 0o644 });
    }
  });
});
