/**
 * Faults the fake can answer with, as the real API does when it is busy or broken
 * (https://docs.anthropic.com/en/api/errors): 429 rate_limit_error with `retry-after`,
 * 529 overloaded_error, 500 api_error, a slow first byte, a stream that stalls, a stream cut
 * mid-way (TCP reset). Two ways to switch them on:
 * - rules, per model, for the next N requests (PUT /_fake/faults): a retry or a fallback then
 *   meets a healthy upstream, as after a real transient failure;
 * - a directive in the request's last user message, `[[fault overloaded]]` or
 *   `[[fault rate_limit retry_after=2]]`: every attempt of that request fails the same way, so
 *   the client sees what the proxy answers when retries do not help.
 */
import { isRecord } from './reply.ts';

export const FAULT_KINDS = ['rate_limit', 'overloaded', 'api_error', 'slow_first_token', 'stall', 'cut'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** rate_limit: the `retry-after` header, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** slow_first_token: wait before answering; stall: how long the stream stops (default: until the client leaves). */
  delayMs?: number;
  /** stall, cut: text deltas sent first (default 2). */
  afterTokens?: number;
}

export interface FaultRule extends Fault {
  /** Only requests for this model id (default: any). */
  model?: string;
  /** How many matching requests it applies to (default: until cleared). */
  times?: number;
}

/** The HTTP error a fault kind answers with, before any byte of a reply. */
export const FAULT_ERRORS: Partial<
  Record<FaultKind, { status: number; type: 'rate_limit_error' | 'overloaded_error' | 'api_error'; message: string }>
> = {
  rate_limit: {
    status: 429,
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit (fake upstream fault)',
  },
  overloaded: { status: 529, type: 'overloaded_error', message: 'Overloaded' },
  api_error: { status: 500, type: 'api_error', message: 'Internal server error' },
};

const OPTION_NAMES: Record<string, keyof Fault> = { retry_after: 'retryAfterSeconds', delay_ms: 'delayMs', after_tokens: 'afterTokens' };
const NUMERIC: readonly (keyof FaultRule)[] = ['retryAfterSeconds', 'delayMs', 'afterTokens', 'times'];

export class FaultSpecError extends Error {}

function checkFault<T extends Fault>(f: T, where: string): T {
  if (!FAULT_KINDS.includes(f.kind))
    throw new FaultSpecError(`${where}: kind must be one of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(f.kind)}`);
  for (const k of NUMERIC) {
    const v = (f as FaultRule)[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0))
      throw new FaultSpecError(`${where}: ${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return f;
}

/** Validates the body of PUT /_fake/faults: an array of rules. */
export function parseRules(body: unknown): FaultRule[] {
  if (!Array.isArray(body)) throw new FaultSpecError('the body must be a JSON array of fault rules');
  return body.map((r, i) => {
    if (!isRecord(r)) throw new FaultSpecError(`rule ${i}: must be an object`);
    const known = new Set(['kind', 'model', 'times', 'retryAfterSeconds', 'delayMs', 'afterTokens']);
    const unknown = Object.keys(r).filter((k) => !known.has(k));
    if (unknown.length) throw new FaultSpecError(`rule ${i}: unknown field(s) ${unknown.join(', ')}`);
    if (r['model'] !== undefined && typeof r['model'] !== 'string') throw new FaultSpecError(`rule ${i}: model must be a string`);
    if (r['times'] === 0) throw new FaultSpecError(`rule ${i}: times must be at least 1 (leave it out for "until cleared")`);
    return checkFault({ ...r } as unknown as FaultRule, `rule ${i}`);
  });
}

const DIRECTIVE = /\[\[fault ([a-z_]+)((?: [a-z_]+=\d+)*)\]\]/;

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body['messages']) ? body['messages'] : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (!isRecord(m) || m['role'] !== 'user') continue;
    if (typeof m['content'] === 'string') return m['content'];
    if (Array.isArray(m['content']))
      return m['content'].map((b: unknown) => (isRecord(b) && typeof b['text'] === 'string' ? b['text'] : '')).join(' ');
    return '';
  }
  return '';
}

/** The fault a `[[fault ...]]` directive in the last user message asks for, if any. */
export function directiveFault(body: Record<string, unknown>): Fault | undefined {
  const m = DIRECTIVE.exec(lastUserText(body));
  if (!m) return undefined;
  const fault: Fault = { kind: m[1] as FaultKind };
  for (const opt of (m[2] ?? '').trim().split(' ').filter(Boolean)) {
    const [name, value] = opt.split('=') as [string, string];
    const key = OPTION_NAMES[name];
    if (!key) throw new FaultSpecError(`[[fault]] option ${name} is not one of ${Object.keys(OPTION_NAMES).join(', ')}`);
    (fault as unknown as Record<string, number>)[key] = Number(value);
  }
  return checkFault(fault, '[[fault]] directive');
}

/** The active rules; `take` consumes one use of the first rule matching a model. */
export class FaultRules {
  private rules: FaultRule[] = [];
  set(rules: FaultRule[]): void {
    this.rules = rules.map((r) => ({ ...r }));
  }
  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }
  clear(): number {
    const n = this.rules.length;
    this.rules = [];
    return n;
  }
  take(model: string): Fault | undefined {
    const i = this.rules.findIndex((r) => r.model === undefined || r.model === model);
    if (i < 0) return undefined;
    const rule = this.rules[i]!;
    if (rule.times !== undefined) {
      rule.times -= 1;
      if (rule.times <= 0) this.rules.splice(i, 1);
    }
    const { model: _m, times: _t, ...fault } = rule;
    return fault;
  }
}
