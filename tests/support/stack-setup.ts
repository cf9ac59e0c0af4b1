// Global setup of the smoke and integration projects: ONE dev stack per run, shared by both
// projects (their setups run in the same main process, so the stack lives on globalThis and
// the last teardown removes it). Tests reach it through `inject('stack')`. `stackSetup()` is the
// same for any overlay (the production project's setup uses it with its own).
import type { TestProject } from 'vitest/node';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { up, type Stack, type StackInfo, type UpOptions } from '../../dev/lib/stack.ts';
import { describeNamespace } from '../../lib/kube/diagnostics.ts';
import { REPO_ROOT } from '../../lib/kustomize.ts';
import { PREVIOUS_RECIPES } from '../../dev/lib/image-mode.ts';
import { loadRecipes } from '../../images/factory/recipes.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo & { kubeConfigYaml: string };
  }
}

interface Shared {
  stack: Promise<Stack>;
  users: number;
}
const g = globalThis as unknown as Record<symbol, Shared | undefined>;

export const RESULTS_DIR = join(REPO_ROOT, 'test-results');

/** Boots a stack for a test run with its log prefixed by `tag`; a failure leaves a report in test-results/. */
export async function bootForTests(tag: string, opts: Omit<UpOptions, 'log'>): Promise<Stack> {
  const t0 = Date.now();
  const lines: string[] = [];
  const log = (l: string) => {
    lines.push(l);
    console.log(`[${tag}] ${l}`);
  };
  try {
    const stack = await up({ ...opts, keep: process.env['CHATSTACK_KEEP_STACK'] === '1', log });
    console.log(`[${tag}] up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(stack.info.timings)}`);
    return stack;
  } catch (err) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${tag}-setup-failure.txt`);
    const report = (err as { report?: string }).report ?? '';
    writeFileSync(file, `${(err as Error).stack}\n\n--- setup log\n${lines.join('\n')}\n\n${report}`);
    throw new Error(`The test stack did not come up: ${(err as Error).message.split('\n')[0]}\nDetails: ${file}`, { cause: err });
  }
}

/**
 * A global setup that shares one stack among the projects naming the same `tag`, provides it
 * as `stack`, and lets the last teardown stop it (and run `cleanup`, e.g. a scratch workspace).
 */
export function stackSetup(tag: string, boot: (project: TestProject) => Promise<Stack>, cleanup: () => void = () => {}) {
  const key = Symbol.for(`chat-stack.live-stack.${tag}`);
  return async (project: TestProject): Promise<() => Promise<void>> => {
    const shared = (g[key] ??= { stack: boot(project), users: 0 });
    shared.users++;
    const stack = await shared.stack;
    project.provide('stack', { ...stack.info, kubeConfigYaml: stack.cluster?.kubeConfigYaml ?? '' });
    return async () => {
      if (--shared.users > 0) return;
      g[key] = undefined;
      if (process.env['CHATSTACK_KEEP_STACK'] === '1') {
        console.log(
          `[${tag}] kept: KUBECONFIG=${stack.info.kubeconfig} (node ${stack.info.clusterName}; remove it with: docker rm -f -v ${stack.info.clusterId?.slice(0, 12)})`,
        );
        return;
      }
      await stack.stop({ log: (l) => console.log(`[${tag}] ${l}`) });
      cleanup();
    };
  };
}

/**
 * What the dev stack's set-up builds besides the stack's own images, two builds at a time, so a
 * cold run builds them while the node image compiles: the upgrade tests' earlier releases, and,
 * when the run includes the images or production project (whose set-ups run after this one),
 * every other image too.
 */
export async function alsoBuildFor(project: TestProject): Promise<string[]> {
  const names = project.vitest.projects.map((p) => p.name);
  if (!names.includes('images') && !names.includes('production')) return Object.values(PREVIOUS_RECIPES);
  return [...(await loadRecipes()).values()].filter((r) => !r.onDemand).map((r) => r.name);
}

export default stackSetup('stack', async (project) =>
  bootForTests('stack', {
    overlay: 'dev',
    reuse: false,
    clusterName: `test-${process.pid}`,
    forwardFakeUpstream: true,
    alsoBuild: await alsoBuildFor(project),
  }),
);

/** Writes the namespace's pods, logs and events for a failed test; returns the file. */
export async function dumpDiagnostics(kc: KubeConfig, namespace: string, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `diagnostics-${name.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 120)}.txt`);
  writeFileSync(file, await describeNamespace(kc, namespace, 80).catch((e: unknown) => `could not describe ${namespace}: ${String(e)}`));
  return file;
}
