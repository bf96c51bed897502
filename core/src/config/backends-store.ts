/**
 * Named backend configurations (issue 6): `backends.toml` in the config folder,
 * one table per name with `type` and the backend's options in snake_case, secrets
 * (options annotated `x-secret`) obscured. PyRestServer's own per-backend files
 * `<name>.toml` are read too, so its users keep their setup.
 *
 *   configDir(env?)                     PYRESTSERVER_CONFIG_DIR, else $XDG_CONFIG_HOME/pyrestserver, else ~/.config/pyrestserver
 *   getBackendConfig(name, opts)        options with secrets revealed (for `serve --backend-config NAME`)
 *   listBackendConfigs / findBackendConfig / addBackendConfig / editBackendConfig / removeBackendConfig
 */
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'smol-toml';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import type { BackendPlugin } from '../plugins/contract.js';
import { envOptions, loadBackend, optionFlag, packageNameFor, secretKeys, validateOptions, type FindOptions } from '../plugins/index.js';
import { isPathName } from '../plugins/resolve.js';
import {
  BACKENDS_FILE, checkName, readBackendFiles, readLegacy, removeLegacy, updateBackendTable,
  type BackendFiles, type BackendProblem, type StoredBackend,
} from './backends-file.js';
import { obscure, reveal } from './obscure.js';

export { BACKENDS_FILE, type BackendProblem, type StoredBackend } from './backends-file.js';

export interface NamedBackend {
  name: string;
  type: string;
  /** snake_case options as stored, secrets revealed. */
  options: Record<string, unknown>;
}

export interface StoreOptions extends FindOptions {
  /** The config folder; default `configDir(env)`. */
  dir?: string;
  /** For `configDir` and `x-env` options; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The keys PyRestServer obscures (pyrestserver/config.py), whatever the plugin says. */
const PYRESTSERVER_SECRET_KEYS = ['password', 'api_key', 'drime_password'];
/** Names that look secret: masked in output even when the plugin cannot be loaded to say so. */
const SECRET_NAME = /pass|secret|token|key|credential/i;
/** What is shown in place of a secret. */
export const MASK = '********';

/** The config folder: PYRESTSERVER_CONFIG_DIR, else $XDG_CONFIG_HOME/pyrestserver, else ~/.config/pyrestserver. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PYRESTSERVER_CONFIG_DIR) return path.resolve(env.PYRESTSERVER_CONFIG_DIR);
  if (env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)) return path.join(env.XDG_CONFIG_HOME, 'pyrestserver');
  return path.join(os.homedir(), '.config', 'pyrestserver');
}

const dirOf = (opts: StoreOptions) => opts.dir ?? configDir(opts.env);

/** Every named backend: backends.toml's in file order, then PyRestServer's `<name>.toml` ones. */
export async function listBackendConfigs(opts: StoreOptions = {}): Promise<{ backends: StoredBackend[]; problems: BackendProblem[] }> {
  const { entries, legacy, problems } = await readBackendFiles(dirOf(opts));
  return { backends: [...entries, ...legacy], problems };
}

/** One named backend as stored (secrets obscured); BACKEND_CONFIG_NOT_FOUND when there is none. */
export async function findBackendConfig(name: string, opts: StoreOptions = {}): Promise<StoredBackend> {
  return (await lookup(name, dirOf(opts))) ?? notFound(name, dirOf(opts));
}

/** backends.toml's entry `name`, else PyRestServer's `<dir>/<name>.toml`. */
async function lookup(name: string, dir: string, files?: BackendFiles): Promise<StoredBackend | undefined> {
  checkName(name);
  const { entries, problems } = files ?? await readBackendFiles(dir);
  const entry = entries.find((e) => e.name === name);
  if (entry) return entry;
  const broken = problems.find((p) => p.name === name);
  if (broken) throw broken.error;
  return readLegacy(dir, name);
}

function notFound(name: string, dir: string): never {
  throw new ConfigError(
    ConfigErrorCode.BACKEND_CONFIG_NOT_FOUND,
    `no backend configuration named "${name}" in ${path.join(dir, BACKENDS_FILE)}`,
    { hint: `See them with \`pyrestserver config list\`; add one with \`pyrestserver config add ${name} --type TYPE ...\`.` },
  );
}

/** Options of `plugin`'s schema marked `x-secret`, and PyRestServer's secret names. */
const revealKeys = (plugin: BackendPlugin) => new Set([...secretKeys(plugin.optionsSchema), ...PYRESTSERVER_SECRET_KEYS]);

function revealed(options: Record<string, unknown>, keys: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, keys.has(k) && typeof v === 'string' ? reveal(v) : v]));
}

/**
 * A named backend with its secrets revealed, for `serve --backend-config NAME`.
 * Loads the plugin of its type to know which options are secret (its install hint when missing).
 */
export async function getBackendConfig(name: string, opts: StoreOptions = {}): Promise<NamedBackend> {
  const entry = await findBackendConfig(name, opts);
  const { plugin } = await loadBackend(entry.type, opts);
  return { name: entry.name, type: entry.type, options: revealed(entry.options, revealKeys(plugin)) };
}

export interface ShownBackend extends StoredBackend {
  /** Why the plugin could not be loaded (secrets are then recognised by name only). */
  pluginError?: ConfigError;
}

/** An entry for display: secrets masked (`MASK`) or, with `reveal`, shown in clear. */
export async function showBackendConfig(entry: StoredBackend, opts: StoreOptions & { reveal?: boolean } = {}): Promise<ShownBackend> {
  let plugin: BackendPlugin | undefined;
  let pluginError: ConfigError | undefined;
  try {
    plugin = (await loadBackend(entry.type, opts)).plugin;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    pluginError = err;
  }
  const secret = new Set([...(plugin ? revealKeys(plugin) : PYRESTSERVER_SECRET_KEYS)]);
  const options = Object.fromEntries(
    Object.entries(entry.options).map(([k, v]) => {
      const isSecret = secret.has(k) || SECRET_NAME.test(k);
      if (!isSecret) return [k, v];
      return [k, opts.reveal ? (typeof v === 'string' ? reveal(v) : v) : MASK];
    }),
  );
  return { ...entry, options, ...(pluginError ? { pluginError } : {}) };
}

/** An entry as the TOML table it is stored as (for display: pass it masked). */
export const backendToml = (entry: NamedBackend): string => stringify({ [entry.name]: { type: entry.type, ...entry.options } });

export interface WriteOptions extends StoreOptions {
  /**
   * Where each given option came from, for error messages; default its flag (`--api-key`).
   */
  source?: (key: string) => string;
}

/**
 * Validate `stored` (secrets obscured) against the plugin's schema, with `x-env`
 * options from the environment filling in required ones (only `stored` is kept).
 */
function check(plugin: BackendPlugin, stored: Record<string, unknown>, sourceOf: (key: string) => string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const fromEnv = envOptions(plugin.optionsSchema, env);
  const plain = revealed(stored, revealKeys(plugin));
  const valid = validateOptions(plugin, { ...fromEnv.values, ...plain }, {
    source: (key) => (key in plain ? sourceOf(key) : fromEnv.sources[key]),
  }) as Record<string, unknown>;
  // Keep what was given, as the schema coerced it ("0" -> 0); secrets stay as stored.
  const secrets = new Set(secretKeys(plugin.optionsSchema));
  return Object.fromEntries(Object.keys(stored).map((k) => [k, secrets.has(k) ? stored[k] : valid[k]]));
}

/** `options` with every `x-secret` option obscured. */
function obscured(plugin: BackendPlugin, options: Record<string, unknown>): Record<string, unknown> {
  const secrets = new Set(secretKeys(plugin.optionsSchema));
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, secrets.has(k) && typeof v === 'string' ? obscure(v) : v]));
}

/**
 * Add backend `name` of `type` with `options` (plain values, as typed): validated
 * against the plugin's schema, secrets obscured, written to backends.toml.
 * BACKEND_CONFIG_EXISTS when the name is taken, unless `force`.
 */
export async function addBackendConfig(
  name: string,
  type: string,
  options: Record<string, unknown>,
  opts: WriteOptions & { force?: boolean } = {},
): Promise<StoredBackend> {
  checkName(name);
  const dir = dirOf(opts);
  const { plugin } = await loadBackend(type, opts);
  const stored = check(plugin, obscured(plugin, options), opts.source ?? optionFlag, opts.env ?? process.env);
  const storedType = typeToStore(type, plugin, opts);
  const file = await updateBackendTable(dir, name, async (files) => {
    // With --force the old entry does not matter, even a broken one.
    const existing = opts.force ? undefined : await lookup(name, dir, files);
    if (existing) {
      throw new ConfigError(ConfigErrorCode.BACKEND_CONFIG_EXISTS, `a backend configuration named "${name}" already exists in ${existing.file}`, {
        hint: `Change it with \`pyrestserver config edit ${name} ...\`, or replace it with \`config add ${name} --force ...\`.`,
      });
    }
    return { type: storedType, ...stored };
  });
  return { name, type: storedType, options: stored, file: file!, legacy: false };
}

/**
 * The `type` to store, so that it loads the same plugin again from anywhere: the
 * plugin's type when that names its package (`drime`, also for `--type
 * pyrestserver-backend-drime`), else the name as given (`@acme/s3`), a path made absolute.
 */
function typeToStore(given: string, plugin: BackendPlugin, opts: StoreOptions): string {
  if (isPathName(given)) return path.resolve(opts.cwd ?? process.cwd(), given);
  return packageNameFor(given) === packageNameFor(plugin.type) ? plugin.type : given;
}

/**
 * Change some options of backend `name` (`undefined` removes an option); the merged
 * result is validated. Unchanged secrets keep their obscured text. An entry from
 * PyRestServer's `<name>.toml` is saved to backends.toml (the old file is left alone).
 */
export async function editBackendConfig(
  name: string,
  changes: Record<string, unknown>,
  opts: WriteOptions = {},
): Promise<StoredBackend> {
  const dir = dirOf(opts);
  let stored: Record<string, unknown> = {};
  let type = '';
  const file = await updateBackendTable(dir, name, async (files) => {
    const entry = (await lookup(name, dir, files)) ?? notFound(name, dir);
    const { plugin } = await loadBackend(entry.type, opts);
    const merged = { ...entry.options, ...obscured(plugin, changes) };
    for (const [k, v] of Object.entries(changes)) if (v === undefined) delete merged[k];
    const given = opts.source ?? optionFlag;
    const sourceOf = (key: string) => (key in changes ? given(key) : `${key} in ${entry.legacy ? entry.file : `[${name}] of ${entry.file}`}`);
    stored = check(plugin, merged, sourceOf, opts.env ?? process.env);
    type = entry.type;
    return { type, ...stored };
  });
  return { name, type, options: stored, file: file!, legacy: false };
}

/** Remove backend `name` wherever it is defined (backends.toml, PyRestServer's `<name>.toml`); the files changed. */
export async function removeBackendConfig(name: string, opts: StoreOptions = {}): Promise<string[]> {
  checkName(name);
  const dir = dirOf(opts);
  const changed: string[] = [];
  if ((await readBackendFiles(dir)).names.has(name)) {
    const file = await updateBackendTable(dir, name, async ({ names }) => (names.has(name) ? 'remove' : 'keep'));
    if (file) changed.push(file);
  }
  if (await readLegacy(dir, name).catch(() => undefined)) changed.push(await removeLegacy(dir, name));
  if (changed.length === 0) notFound(name, dir);
  return changed;
}
