// One way every command reads its arguments: node's parseArgs with a usage text made from the same
// option table. `--help` prints the usage and exits 0; an unknown option, a missing or malformed
// value, or a missing required argument prints one line saying what is wrong, then the usage, and
// exits 2 (nothing started). Errors met while doing the work are the command's own: exit 1.
import { parseArgs } from 'node:util';

interface OptionBase {
  /** one line for the usage text */
  help: string;
  short?: string;
}
export interface StringOption extends OptionBase {
  type: 'string';
  /** the value's placeholder in the usage text, e.g. FILE */
  value?: string;
  default?: string;
  required?: boolean;
}
export interface BooleanOption extends OptionBase {
  type: 'boolean';
}
export type OptionSpec = StringOption | BooleanOption;

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** how a user runs it, e.g. `npm run dev:up --` */
  command: string;
  /** what it does, a sentence or two */
  summary: string;
  options: O;
  /** positional arguments, e.g. ['ARCHIVE'] (each required) */
  positionals?: string[];
}

type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends BooleanOption
    ? boolean
    : O[K] extends { default: string } | { required: true }
      ? string
      : string | undefined;
};

/** The usage text: synopsis, summary, one line per option. */
export function usage<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): string {
  const synopsis = [spec.command, ...(spec.positionals ?? []), Object.keys(spec.options).length ? '[options]' : '']
    .filter(Boolean)
    .join(' ');
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const extra = o.type === 'string' ? (o.required ? ' (required)' : o.default !== undefined ? ` (default: ${o.default})` : '') : '';
    return [flag, o.help + extra] as const;
  });
  rows.push(['-h, --help', 'print this usage and exit']);
  const width = Math.max(...rows.map(([f]) => f.length));
  return `Usage: ${synopsis}\n\n${spec.summary}\n\nOptions:\n${rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`).join('\n')}\n`;
}

/** A command line that is wrong in shape: one line for the user, then the usage; exit 2. */
export class UsageError extends Error {}

/** Prints what is wrong and the usage to stderr, and exits 2. */
export function exitWithUsage(spec: CommandSpec<Record<string, OptionSpec>>, message: string): never {
  process.stderr.write(`${spec.command.replace(/ --$/, '')}: ${message}\n\n${usage(spec)}`);
  process.exit(2);
}

/**
 * Parses `argv` (default: this process's arguments) against `spec`. `--help` prints the usage and
 * exits 0; a wrong command line exits 2 with the usage. `check` may throw UsageError for values
 * of the wrong shape, with the same outcome.
 */
export function parseCommand<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  check?: (values: Values<O>, positionals: string[]) => void,
  argv: string[] = process.argv.slice(2),
): { values: Values<O>; positionals: string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage(spec));
    process.exit(0);
  }
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([name, o]) => [
      name,
      {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.type === 'string' && o.default !== undefined ? { default: o.default } : {}),
      },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    const wanted = spec.positionals ?? [];
    if (positionals.length > wanted.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[wanted.length])}`);
    if (positionals.length < wanted.length) throw new UsageError(`missing ${wanted.slice(positionals.length).join(' ')}`);
    for (const [name, o] of Object.entries(spec.options)) {
      if (o.type === 'string' && o.required && !values[name]) throw new UsageError(`missing --${name} ${o.value ?? 'VALUE'}`);
    }
    const typed = values as Values<O>;
    check?.(typed, positionals);
    return { values: typed, positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS_'))
      exitWithUsage(spec, e.message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
    throw err;
  }
}

/** An integer option within [min, max], or a UsageError naming the option. */
export function intOption(name: string, value: string, min: number, max: number, what = 'a whole number'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${JSON.stringify(value)}: expected ${what} from ${min} to ${max}`);
  return n;
}

/** A comma-separated list option. */
export function listOption(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
