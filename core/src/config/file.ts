/**
 * The pyrestserver config file, found by cosmiconfig (module name `pyrestserver`) or named
 * with `--config FILE`: JavaScript, TypeScript, JSON, YAML or TOML, or a `pyrestserver`
 * key in package.json. Parsed, checked against its shape and normalised (key spellings).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Loader } from 'cosmiconfig';
import { parse as parseToml } from 'smol-toml';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import type { ValidateFunction } from 'ajv';
import { errorPath, errorText } from '../plugins/ajv.js';
import { cachedValidator } from '../plugins/validator-cache.js';
import { parseSize, SIZE_FORMS } from './size.js';

export const CONFIG_MODULE_NAME = 'pyrestserver';

/** Where the config file is searched, in order, in each folder from the current one up to the project root (package.json). */
export const CONFIG_SEARCH_PLACES = [
  ...['js', 'mjs', 'cjs', 'ts', 'json', 'yaml', 'yml', 'toml'].map((ext) => `${CONFIG_MODULE_NAME}.config.${ext}`),
  ...['', '.json', '.yaml', '.yml', '.js', '.cjs', '.mjs', '.toml'].map((ext) => `.${CONFIG_MODULE_NAME}rc${ext}`),
  'package.json',
];

export interface UserSettings {
  appendOnly?: boolean;
  maxSize?: number;
  privateRepos?: boolean;
}
export interface RepoSettings {
  appendOnly?: boolean;
  maxSize?: number;
}

export interface ConfigFile {
  /** The backend to use (as `--backend`). */
  backend?: string;
  /** Extra plugin packages (names or paths relative to the config file) to load. */
  plugins?: string[];
  /** `serve` flags, keys in kebab-case (`max-size`); camelCase and snake_case are accepted and normalised. */
  serve?: Record<string, unknown>;
  /** Options per backend type, snake_case as in the plugin's schema. */
  backends?: Record<string, Record<string, unknown>>;
  /** Per-user settings, keys normalised to camelCase. */
  users?: Record<string, UserSettings>;
  /** Per-repository settings keyed by repository path, keys normalised to camelCase. */
  repos?: Record<string, RepoSettings>;
}

export interface LoadedConfigFile {
  filepath: string;
  config: ConfigFile;
}

const SETTINGS = {
  type: 'object',
  additionalProperties: false,
  properties: {
    appendOnly: { type: 'boolean' },
    maxSize: { type: 'integer', minimum: 0 },
  },
} as const;

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    backend: { type: 'string', minLength: 1 },
    plugins: { type: 'array', items: { type: 'string', minLength: 1 } },
    serve: { type: 'object' },
    backends: { type: 'object', additionalProperties: { type: 'object' } },
    users: {
      type: 'object',
      additionalProperties: { ...SETTINGS, properties: { ...SETTINGS.properties, privateRepos: { type: 'boolean' } } },
    },
    repos: { type: 'object', additionalProperties: SETTINGS },
  },
};

let compiled: ValidateFunction | undefined;
/** The file's shape check, made on first use (not at start-up when there is no file), cached as the options' are. */
const validate = (config: unknown) => (compiled ??= cachedValidator(SCHEMA))(config);
const validationErrors = () => compiled?.errors;

/**
 * Load the config file: `file` when given (relative to `cwd`), else the first one cosmiconfig
 * finds from `cwd` up to the project root. Undefined when there is none.
 * A broken or ill-shaped file: CONFIG_FILE_INVALID naming the file (and line/column, or key).
 */
export async function loadConfigFile(
  { file, cwd = process.cwd() }: { file?: string; cwd?: string } = {},
): Promise<LoadedConfigFile | undefined> {
  if (file === undefined && !mayHaveConfigFile(cwd)) return undefined;
  // Loaded only when there may be a file to read: it is a large part of start-up.
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  const explorer = cosmiconfig(CONFIG_MODULE_NAME, {
    searchPlaces: CONFIG_SEARCH_PLACES,
    searchStrategy: 'project',
    mergeSearchPlaces: false,
    cache: false,
    loaders: { '.toml': loadToml, '.json': loadJson, '.ts': loadTs, noExt: defaultLoaders['.yaml'] },
  });
  const target = file === undefined ? undefined : path.resolve(cwd, file);
  let result: Awaited<ReturnType<typeof explorer.search>>;
  try {
    result = target ? await explorer.load(target) : await explorer.search(cwd);
  } catch (err) {
    throw fileError(err, target);
  }
  if (!result) return undefined;
  const { filepath } = result;
  if (result.isEmpty || result.config === undefined || result.config === null) return { filepath, config: {} };
  return { filepath, config: normalise(result.config, filepath) };
}

/**
 * False when cosmiconfig's search (searchStrategy 'project') would find nothing: no search
 * place exists in any folder from `cwd` up to the first one holding a package.json or
 * package.yaml (or the root), and that package.json has no `pyrestserver` key. True when it may find something.
 */
export function mayHaveConfigFile(cwd: string): boolean {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const place of CONFIG_SEARCH_PLACES) {
      if (place !== 'package.json' && existsSync(path.join(dir, place))) return true;
    }
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const json: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
        return typeof json === 'object' && json !== null && CONFIG_MODULE_NAME in json;
      } catch {
        return true; // let cosmiconfig report it
      }
    }
    if (existsSync(path.join(dir, 'package.yaml'))) return false; // also ends cosmiconfig's search
    if (path.dirname(dir) === dir) return false;
  }
}

function normalise(raw: unknown, filepath: string): ConfigFile {
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${filepath}: expected an object (a table) at the top, got ${typeof raw}`);
  }
  const config = { ...(raw as Record<string, unknown>) };
  if (isObject(config.serve)) config.serve = renameKeys(config.serve, kebab);
  for (const key of ['users', 'repos'] as const) {
    const section = config[key];
    if (isObject(section)) {
      config[key] = Object.fromEntries(
        Object.entries(section).map(([name, settings]) => [
          name,
          isObject(settings) ? sizesRead(renameKeys(settings, camel)) : settings,
        ]),
      );
    }
  }
  if (!validate(config)) {
    const problems = (validationErrors() ?? []).map((err) => {
      const at = errorPath(err);
      const text = at.at(-1) === 'maxSize' && err.keyword === 'type' ? `must be ${SIZE_FORMS}` : errorText(err);
      return `${at.join('.') || '(top)'}: ${text}`;
    });
    throw new ConfigError(
      ConfigErrorCode.CONFIG_FILE_INVALID,
      `${filepath}:\n  ${[...new Set(problems)].join('\n  ')}`,
      { hint: 'Known keys: backend, plugins, serve, backends, users, repos (see docs/configuration.md).' },
    );
  }
  return config as ConfigFile;
}

/** smol-toml's tables have a null prototype; consumers get ordinary objects. */
const loadToml: Loader = (_filepath, content) => plain(parseToml(content));

function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
}

/**
 * A TypeScript config file is imported as it is: that works where Node strips types (22.18+)
 * or runs with a TypeScript loader (`node --import tsx`). cosmiconfig's own loader needs the
 * TypeScript compiler's JavaScript API, which installs of pyrestserver do not have.
 */
const loadTs: Loader = async (filepath) => {
  try {
    return ((await import(pathToFileURL(filepath).href)) as { default?: unknown }).default;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    throw new Error(
      'a TypeScript config file needs a Node.js that runs TypeScript (22.18 or later) or a loader (node --import tsx); use pyrestserver.config.mjs or .toml instead',
    );
  }
};

/** JSON.parse, with line and column when V8 gives a position, and never an excerpt of the text (it may hold secrets). */
const loadJson: Loader = (_filepath, content) => {
  try {
    return JSON.parse(content) as unknown;
  } catch (err) {
    const message = (err as Error).message;
    // V8 quotes up to 10 characters either side of an unexpected token instead of giving its
    // position: `Unexpected token 's', ..."api_key": s3cr3t-val"... is not valid JSON`.
    const quoted = /^(.*?), (\.\.\.)?"(.*?)"(?:\.\.\.)? is not valid JSON$/s.exec(message);
    const position = /at position (\d+)/.exec(message)?.[1];
    let at = position === undefined ? undefined : Number(position);
    if (quoted?.[2] && content.indexOf(quoted[3]!) !== -1) at = content.indexOf(quoted[3]!) + 10;
    const short = (quoted ? quoted[1]! : message).replace(/ in JSON at position.*$/s, '');
    throw Object.assign(new SyntaxError(short), at === undefined ? {} : lineColumn(content, at));
  }
};

function fileError(err: unknown, target: string | undefined): ConfigError {
  const e = err as { message?: string; code?: string; filepath?: string; line?: number; column?: number; mark?: { line: number; column: number } };
  const filepath = e.filepath ?? target ?? 'config file';
  if (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES') {
    return new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `cannot read config file ${filepath}: ${e.code}`, { cause: err });
  }
  // YAML (js-yaml: 0-based mark), TOML (smol-toml: 1-based line/column), JSON (ours: 1-based).
  const at = e.mark ? { line: e.mark.line + 1, column: e.mark.column + 1 } : e.line !== undefined ? { line: e.line, column: e.column } : undefined;
  // The first line only: parsers append an excerpt of the file, which may hold secrets.
  const message = (e.message ?? String(err)).replace(/^(?:JSON|YAML|TypeScript) Error in [^\n]*:\n/, '').trim().split('\n')[0];
  return new ConfigError(
    ConfigErrorCode.CONFIG_FILE_INVALID,
    `${filepath}${at ? `:${at.line}:${at.column}` : ''}: ${message}`,
    { cause: err },
  );
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/** `maxSize = "500GiB"` -> bytes (plain integers stay as they are). */
function sizesRead(settings: Record<string, unknown>): Record<string, unknown> {
  if (typeof settings.maxSize !== 'string') return settings;
  const bytes = parseSize(settings.maxSize);
  // Not a size: left for the schema check, which reports it with every other problem.
  return bytes === undefined ? settings : { ...settings, maxSize: bytes };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const renameKeys = (obj: Record<string, unknown>, rename: (k: string) => string) =>
  Object.fromEntries(Object.entries(obj).map(([k, v]) => [rename(k), v]));

/** `maxSize`, `max_size`, `max-size` -> `max-size`. */
const kebab = (key: string): string => key.replace(/_/g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
/** `max-size`, `max_size`, `maxSize` -> `maxSize`. */
const camel = (key: string): string => key.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
