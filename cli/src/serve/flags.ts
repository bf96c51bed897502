/**
 * `serve` flags: rest-server 0.14's names and defaults, plus pyrestserver's own. One table
 * feeds the help text, argv parsing, the PYRESTSERVER_* environment and the config file's
 * `serve` section, so a flag is declared once.
 */
import { parseArgs } from 'node:util';
import { ConfigError, ConfigErrorCode, parseSize, SIZE_FORMS } from '@pyrestserver/core';

/** `size`: bytes, or `500MiB`, `2TB`, `10G` (see core's parseSize). */
export type FlagKind = 'string' | 'boolean' | 'integer' | 'size';

export interface FlagSpec {
  /** kebab-case, without dashes: `max-size`. */
  name: string;
  kind: FlagKind;
  /** The value's name in help: `--path <dir>`. */
  placeholder?: string;
  description: string;
  default?: string | number | boolean;
  /** Shown instead of `default` when the default is computed (`<path>/.htpasswd`). */
  defaultText?: string;
  /** Repeatable; values collected in an array. */
  multiple?: boolean;
  /** Not read from PYRESTSERVER_* (backend options have their own `x-env`). */
  noEnv?: boolean;
}

export const SERVE_FLAGS: readonly FlagSpec[] = [
  { name: 'path', kind: 'string', placeholder: 'dir', description: 'data directory', default: '/tmp/restic' },
  { name: 'listen', kind: 'string', placeholder: 'addr', description: 'listen address ([host]:port, unix:/path)', default: ':8000' },
  { name: 'no-auth', kind: 'boolean', description: 'disable .htpasswd authentication' },
  { name: 'htpasswd-file', kind: 'string', placeholder: 'file', description: 'location of .htpasswd file', defaultText: '<path>/.htpasswd' },
  { name: 'proxy-auth-username', kind: 'string', placeholder: 'header', description: 'trust this HTTP header of a reverse proxy for the user name instead of .htpasswd' },
  { name: 'private-repos', kind: 'boolean', description: 'users can only access their private repo' },
  { name: 'append-only', kind: 'boolean', description: 'enable append only mode' },
  { name: 'max-size', kind: 'size', placeholder: 'size', description: 'the maximum size of the repository: bytes, or with a unit (500MiB, 2TB; K/M/G/T alone are powers of 1024, as in restic)' },
  { name: 'group-accessible-repos', kind: 'boolean', description: 'let filesystem group be able to access repo files' },
  { name: 'tls', kind: 'boolean', description: 'turn on TLS support' },
  { name: 'tls-cert', kind: 'string', placeholder: 'file', description: 'TLS certificate path', defaultText: '<path>/public_key' },
  { name: 'tls-key', kind: 'string', placeholder: 'file', description: 'TLS key path', defaultText: '<path>/private_key' },
  { name: 'tls-min-ver', kind: 'string', placeholder: 'version', description: 'TLS min version, one of (1.2|1.3)', default: '1.2' },
  { name: 'prometheus', kind: 'boolean', description: 'enable Prometheus metrics' },
  { name: 'prometheus-no-auth', kind: 'boolean', description: 'disable auth for Prometheus /metrics endpoint' },
  { name: 'log', kind: 'string', placeholder: 'file', description: 'write HTTP requests in the combined log format to the specified filename (use "-" for logging to stdout)' },
  { name: 'no-verify-upload', kind: 'boolean', description: 'do not verify the integrity of uploaded data. DO NOT enable unless the rest-server runs on a very low-power device' },
  { name: 'debug', kind: 'boolean', description: 'output debug messages' },
  { name: 'backend', kind: 'string', placeholder: 'name', description: 'storage backend: a type (local, drime: package pyrestserver-backend-<type>), an npm package name or a path', default: 'local' },
  { name: 'backend-config', kind: 'string', placeholder: 'name', description: 'use the named backend saved with `pyrestserver config add`' },
  { name: 'config', kind: 'string', placeholder: 'file', description: 'config file', defaultText: 'searched: pyrestserver.config.*, .pyrestserverrc*, package.json' },
];

/** Flags read before the command is built: they decide which backend (and so which flags) there are. */
export const EARLY_FLAGS = ['backend', 'backend-config', 'config'] as const;

/** `--max-size <bytes>`, as registered with cac (a value placeholder keeps cac from treating it as boolean). */
export const usageOf = (flag: FlagSpec): string =>
  flag.kind === 'boolean' ? `--${flag.name}` : `--${flag.name} <${flag.placeholder ?? 'value'}>`;

/** The help line's text: description and default. */
export function helpOf(flag: FlagSpec): string {
  const shown = flag.defaultText ?? (flag.default === undefined ? undefined : String(flag.default));
  return shown === undefined ? flag.description : `${flag.description} (default: ${shown})`;
}

/** `max-size` -> `PYRESTSERVER_MAX_SIZE`. */
export const envNameOf = (name: string): string => `PYRESTSERVER_${name.replace(/-/g, '_').toUpperCase()}`;

export type RawFlags = Record<string, string | boolean | string[] | undefined>;

/**
 * Parse the arguments strictly, keeping every value as the string typed (`0123` stays
 * `0123`; cac's parser would make it a number). `positionals` are what is not a flag.
 */
export function parseFlags(args: readonly string[], flags: readonly FlagSpec[]): { values: RawFlags; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  const negations = new Map<string, string>();
  for (const flag of flags) {
    options[flag.name] = { type: flag.kind === 'boolean' ? 'boolean' : 'string', ...(flag.multiple ? { multiple: true } : {}) };
    // `--no-X` turns off a boolean that a default, the environment or a config file turned on.
    const negation = `no-${flag.name}`;
    if (flag.kind === 'boolean' && !flag.name.startsWith('no-') && !flags.some((f) => f.name === negation)) {
      options[negation] = { type: 'boolean' };
      negations.set(negation, flag.name);
    }
  }
  try {
    const booleans = new Set(flags.filter((f) => f.kind === 'boolean').map((f) => f.name));
    const { rest, explicit } = explicitBooleans(args, booleans, negations);
    const { values, positionals } = parseArgs({ args: rest, options, strict: true, allowPositionals: true });
    for (const [negation, name] of negations) {
      if (values[negation] === undefined) continue;
      if (values[name] !== undefined) throw new Error(`--${name} and --${negation} contradict each other`);
      (values as RawFlags)[name] = !values[negation];
      delete (values as RawFlags)[negation];
    }
    for (const [name, value] of explicit) {
      if (values[name] !== undefined && values[name] !== value) throw new Error(`--${name} is given both on and off`);
      (values as RawFlags)[name] = value;
    }
    return { values: values as RawFlags, positionals };
  } catch (err) {
    throw new ConfigError(ConfigErrorCode.USAGE, (err as Error).message, {
      hint: 'See `pyrestserver serve --help` for every flag.',
    });
  }
}

/**
 * Boolean flags with a value: `--flag=true`, `--flag=false` (also yes/no, on/off, 1/0, as
 * rest-server's Go flags take them) and `--flag true`, `--flag false` (the next argument, only
 * when it is exactly true or false). `--no-flag=true` is `--flag` off. Returns the other
 * arguments and the values so given, by flag name.
 */
function explicitBooleans(args: readonly string[], booleans: Set<string>, negations: Map<string, string>) {
  const rest: string[] = [];
  const explicit = new Map<string, boolean>();
  const target = (flag: string): [string, boolean] | undefined => {
    if (booleans.has(flag)) return [flag, false];
    const negated = negations.get(flag);
    return negated === undefined ? undefined : [negated, true];
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const found = m ? target(m[1]!) : undefined;
    if (!m || !found) {
      rest.push(arg);
      continue;
    }
    const [name, negated] = found;
    let text = m[2];
    if (text === undefined && /^(true|false)$/i.test(args[i + 1] ?? '')) text = args[++i]!;
    if (text === undefined) {
      rest.push(arg);
      continue;
    }
    const value = TRUE.has(text.toLowerCase()) ? true : FALSE.has(text.toLowerCase()) ? false : undefined;
    if (value === undefined) throw new Error(`--${m[1]}: expected true or false, got ${JSON.stringify(text)}`);
    const previous = explicit.get(name);
    if (previous !== undefined && previous !== (value !== negated)) throw new Error(`--${name} is given both on and off`);
    explicit.set(name, value !== negated);
  }
  return { rest, explicit };
}

/** The early flags' values, read leniently (the full flag set is not known yet). */
export function peekFlags(args: readonly string[]): Partial<Record<(typeof EARLY_FLAGS)[number], string>> {
  const options = Object.fromEntries(EARLY_FLAGS.map((name) => [name, { type: 'string' as const }]));
  const { values } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true });
  const out: Partial<Record<(typeof EARLY_FLAGS)[number], string>> = {};
  for (const name of EARLY_FLAGS) if (typeof values[name] === 'string') out[name] = values[name] as string;
  return out;
}

export type FlagValue = string | number | boolean;

export interface FlagLayers {
  /** From `parseFlags`. */
  argv: RawFlags;
  env: NodeJS.ProcessEnv;
  /** The config file's `serve` section (kebab-case keys) and its path. */
  file?: { values: Record<string, unknown>; filepath: string };
}

export interface ResolvedFlags {
  values: Record<string, FlagValue | undefined>;
  /** Where each value came from: `--max-size`, `PYRESTSERVER_MAX_SIZE`, `serve.max-size in FILE`, `default`. */
  sources: Record<string, string>;
}

/**
 * Each flag's value by precedence: command line > PYRESTSERVER_* environment > config file
 * `serve` section > default. Values are typed and checked; an error names the flag, variable
 * or key, and what was expected.
 */
export function resolveFlags(flags: readonly FlagSpec[], layers: FlagLayers): ResolvedFlags {
  const values: Record<string, FlagValue | undefined> = {};
  const sources: Record<string, string> = {};
  const known = new Set(flags.map((f) => f.name));
  for (const key of Object.keys(layers.file?.values ?? {})) {
    if (!known.has(key) || key === 'config') {
      throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${layers.file!.filepath}: serve.${key}: is not a serve flag`, {
        hint: 'The serve section takes the flags of `pyrestserver serve --help` (without dashes).',
      });
    }
  }
  for (const flag of flags) {
    const fromArgv = layers.argv[flag.name];
    const envName = envNameOf(flag.name);
    const fromEnv = flag.noEnv ? undefined : layers.env[envName];
    const fromFile = layers.file?.values[flag.name];
    if (fromArgv !== undefined && !Array.isArray(fromArgv)) {
      sources[flag.name] = `--${flag.name}`;
      values[flag.name] = typed(flag, fromArgv, sources[flag.name]!);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      sources[flag.name] = envName;
      values[flag.name] = typed(flag, fromEnv, envName);
    } else if (fromFile !== undefined) {
      sources[flag.name] = `serve.${flag.name} in ${layers.file!.filepath}`;
      values[flag.name] = typed(flag, fromFile, sources[flag.name]!);
    } else if (flag.default !== undefined) {
      sources[flag.name] = 'default';
      values[flag.name] = flag.default;
    }
  }
  return { values, sources };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function typed(flag: FlagSpec, value: unknown, source: string): FlagValue {
  const bad = (expected: string) =>
    new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `${source}: expected ${expected}, got ${JSON.stringify(value)}`);
  switch (flag.kind) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && TRUE.has(value.toLowerCase())) return true;
      if (typeof value === 'string' && FALSE.has(value.toLowerCase())) return false;
      throw bad('true or false');
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
      if (typeof value === 'string' && /^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
      throw bad(`a whole number${flag.placeholder ? ` of ${flag.placeholder}` : ''}`);
    case 'size': {
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
      const bytes = typeof value === 'string' ? parseSize(value) : undefined;
      if (bytes !== undefined) return bytes;
      throw bad(SIZE_FORMS);
    }
    case 'string':
      if (typeof value === 'string' && value !== '') return value;
      if (typeof value === 'number') return String(value);
      throw bad('a non-empty string');
  }
}
