// Secrets are generated, never committed: an overlay names its Secrets; its local instance
// (manifests/local/<overlay>) generates them from gitignored `*.env` files, and a committed
// `*.env.example` beside each lists the keys. This module turns the examples into real env files
// without ever overwriting a value that exists.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync, appendFileSync, chmodSync, rmSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

/** `KEY=@random` or `KEY=@random:prefix-` in an example means "generate a strong value". */
const RANDOM_MARKER = /^@random(?::(.*))?$/;
/** `KEY=@optional` in an example: the key may stay empty (the overlay reads it only when set). */
const OPTIONAL_MARKER = '@optional';
/** `${KEY}` in an example value is replaced by KEY's value in the same file (a URL built from a generated password). */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const LINE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

export interface EnvFileReport {
  file: string;
  created: boolean;
  /** Keys appended to an existing file because its example gained them. */
  added: string[];
  /** Keys that have no value yet and cannot be generated (an API key, a database URL...). */
  missing: string[];
  /** Optional keys still empty (`@optional` in the example): worth a mention, not an error. */
  unset: string[];
}

export function randomSecret(prefix = ''): string {
  // 32 random bytes, base64url: 256 bits, safe in env files, URLs and headers.
  return prefix + randomBytes(32).toString('base64url');
}

export function parseEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

function valueFor(exampleValue: string): string {
  if (exampleValue === OPTIONAL_MARKER) return '';
  const m = RANDOM_MARKER.exec(exampleValue);
  return m ? randomSecret(m[1] ?? '') : exampleValue;
}

/** The keys an example marks `@optional`. */
export function optionalKeys(example: Map<string, string>): Set<string> {
  return new Set([...example].filter(([, v]) => v === OPTIONAL_MARKER).map(([k]) => k));
}

/**
 * The values for `entries`: a key `known` already holds keeps that value (a key that moved to
 * another file of the directory), the others are generated; then `${KEY}` references are resolved
 * against `known` and themselves.
 */
function valuesFor(entries: [string, string][], known: Map<string, string>, examplePath: string): [string, string][] {
  const values = new Map([...known, ...entries.filter(([k]) => !known.has(k)).map(([k, v]): [string, string] => [k, valueFor(v)])]);
  return entries.map(([k]) => {
    const resolved = values.get(k)!.replace(REFERENCE, (_, ref: string) => {
      const v = values.get(ref);
      if (v === undefined || v.includes('${'))
        throw new Error(`${examplePath}: ${k} refers to \${${ref}}, which the file does not define (or which refers further)`);
      return v;
    });
    return [k, resolved];
  });
}

/**
 * Makes `<name>.env` from `<name>.env.example` if missing (mode 0600); never rewrites a value.
 * `siblings`: the values of the other env files of its directory, which keys moved from there keep
 * and `${KEY}` references may name.
 */
export function ensureEnvFile(examplePath: string, siblings: Map<string, string> = new Map()): EnvFileReport {
  const file = examplePath.replace(/\.example$/, '');
  const example = parseEnv(readFileSync(examplePath, 'utf8'));
  const report: EnvFileReport = { file, created: false, added: [], missing: [], unset: [] };
  if (!existsSync(file)) {
    const lines = valuesFor([...example], siblings, examplePath).map(([k, v]) => `${k}=${v}`);
    writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
    report.created = true;
  } else {
    const current = parseEnv(readFileSync(file, 'utf8'));
    const extra = [...example].filter(([k]) => !current.has(k));
    if (extra.length > 0) {
      const text = readFileSync(file, 'utf8');
      const sep = text === '' || text.endsWith('\n') ? '' : '\n';
      appendFileSync(
        file,
        sep +
          valuesFor(extra, new Map([...siblings, ...current]), examplePath)
            .map(([k, v]) => `${k}=${v}`)
            .join('\n') +
          '\n',
      );
      report.added = extra.map(([k]) => k);
    }
  }
  chmodSync(file, 0o600);
  const optional = optionalKeys(example);
  for (const [k, v] of parseEnv(readFileSync(file, 'utf8'))) {
    if (v === '' && optional.has(k)) report.unset.push(k);
    else if (v === '' || RANDOM_MARKER.test(v) || v === OPTIONAL_MARKER) report.missing.push(k);
  }
  return report;
}

/**
 * Ensures every env file of an overlay's local instance (manifests/local/<overlay>), in name order.
 * Each sees the values of the others (existing files first, then what was just made): a key moved
 * from one file to another keeps its value, and a URL may be built from another file's password.
 */
export function ensureOverlaySecrets(dir: string): EnvFileReport[] {
  if (!existsSync(dir)) return [];
  const examples = readdirSync(dir)
    .filter((f) => f.endsWith('.env.example'))
    .sort();
  const known = new Map<string, string>();
  for (const f of examples) {
    const file = join(dir, f.replace(/\.example$/, ''));
    if (existsSync(file)) for (const [k, v] of parseEnv(readFileSync(file, 'utf8'))) if (v !== '') known.set(k, v);
  }
  return examples.map((f) => {
    const report = ensureEnvFile(join(dir, f), known);
    for (const [k, v] of parseEnv(readFileSync(report.file, 'utf8'))) if (v !== '' && !known.has(k)) known.set(k, v);
    return report;
  });
}

/** One line per file, plus what the user still has to fill in; `base` shortens the paths. */
export function describeReports(reports: EnvFileReport[], base: string): string[] {
  return reports.map((r) => {
    const name = relative(base, r.file);
    const state = r.created ? 'created' : r.added.length > 0 ? `kept, added ${r.added.join(', ')}` : 'kept';
    const todo = r.missing.length > 0 ? `; fill in: ${r.missing.join(', ')}` : '';
    const later = r.unset.length > 0 ? `; optional, not set: ${r.unset.join(', ')}` : '';
    return `${name}: ${state}${todo}${later}`;
  });
}

/** Thrown when an overlay is about to be used while one of its secrets has no value. */
export class MissingSecretsError extends Error {
  constructor(reports: EnvFileReport[], base: string) {
    const lines = reports.filter((r) => r.missing.length > 0).map((r) => `  ${relative(base, r.file)}: ${r.missing.join(', ')}`);
    super(`These secrets have no value yet; edit the files and set them:\n${lines.join('\n')}`);
    this.name = 'MissingSecretsError';
  }
}

/**
 * Sets keys that are still empty in an env file (a test filling what a person would: an API key,
 * an OIDC client). A key that has a value keeps it; returns the keys it set.
 */
export function fillEmptyValues(file: string, values: Record<string, string>): string[] {
  const set: string[] = [];
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((raw) => {
      const m = LINE.exec(raw.trim());
      if (!m || m[2] !== '' || values[m[1]!] === undefined) return raw;
      set.push(m[1]!);
      return `${m[1]}=${values[m[1]!]}`;
    });
  writeFileSync(file, lines.join('\n'), { mode: 0o600 });
  return set;
}

export interface TlsReport {
  /** The files written this time (the CA's only when it was missing). */
  created: string[];
  /** The CA to trust for the overlay's host (manifests/local/<overlay>/ca.crt). */
  ca: string;
  hosts: string[];
}

/**
 * For a local instance whose `tls-hosts` (committed: one host name per line) asks for it: a
 * local CA (`ca.crt`, `ca.key`) and a certificate it signed for those hosts (`tls.crt`,
 * `tls.key`), which its secretGenerator turns into the Gateway's TLS Secret. Existing files are
 * kept; a certificate is re-issued only when its hosts changed. Mode 0600, gitignored.
 */
export async function ensureOverlayTls(dir: string): Promise<TlsReport | undefined> {
  const hostsFile = join(dir, 'tls-hosts');
  if (!existsSync(hostsFile)) return undefined;
  const hosts = readFileSync(hostsFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (hosts.length === 0) throw new Error(`${hostsFile}: no host name in it (one per line)`);
  const { makeCa, makeServerCert, certHosts } = await import('./tls.ts');
  const file = (name: string) => join(dir, name);
  const write = (name: string, text: string) => writeFileSync(file(name), text, { mode: 0o600 });
  const created: string[] = [];
  if (!existsSync(file('ca.crt')) || !existsSync(file('ca.key'))) {
    const ca = await makeCa(`chat-stack local CA (${basename(dir)})`);
    write('ca.crt', ca.cert);
    write('ca.key', ca.key);
    created.push(file('ca.crt'), file('ca.key'));
    rmSync(file('tls.crt'), { force: true });
  }
  const current = existsSync(file('tls.crt')) && existsSync(file('tls.key')) ? certHosts(readFileSync(file('tls.crt'), 'utf8')) : [];
  if (current.join(',') !== hosts.join(',')) {
    const ca = { cert: readFileSync(file('ca.crt'), 'utf8'), key: readFileSync(file('ca.key'), 'utf8') };
    const leaf = await makeServerCert(ca, hosts);
    write('tls.crt', leaf.cert);
    write('tls.key', leaf.key);
    created.push(file('tls.crt'), file('tls.key'));
  }
  return { created, ca: file('ca.crt'), hosts };
}
