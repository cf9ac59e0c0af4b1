// Where `npm run dev:up` records the stack it runs (.dev/stack.json, no secrets in it), so the
// other commands (down, backup, restore, bench) find its node without being told. The dev
// environment writes the whole record; the operator commands read only what this type names.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

export const STATE_DIR = join(REPO_ROOT, '.dev');
export const STATE_FILE = join(STATE_DIR, 'stack.json');

export interface StackRecord {
  overlay: string;
  namespace: string;
  /** the node's kube config file */
  kubeconfig: string;
}

/** The running dev stack's record, or undefined when none was written. */
export function readStackRecord<T extends StackRecord = StackRecord>(file = STATE_FILE): (T & { pid?: number }) | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T & { pid?: number }) : undefined;
}
