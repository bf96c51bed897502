/**
 * Find a backend plugin by name, import it (ESM or CommonJS) and check what it exports,
 * failing with a ConfigError that says what was tried and how to fix it.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { stat } from 'node:fs/promises';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import { BACKEND_PLUGIN_KIND, PLUGIN_API_VERSION, type BackendPlugin } from './contract.js';
import { checkOptionsSchema } from './options.js';
import {
  entryFile, findPackage, isPathName, listBackendPackages, packageNameFor, readManifest, searchDirs,
  type FoundPackage,
} from './resolve.js';

export interface LoadedBackend {
  plugin: BackendPlugin;
  /** The npm package name it came from, e.g. `pyrestserver-backend-drime` (for a path without package.json: the path). */
  packageName: string;
  version: string;
  /** The folder the package was found in (its own folder). */
  location: string;
}

export interface FindOptions {
  /**
   * Folders to resolve packages from, in order of preference; from each, the `node_modules`
   * folders up to the root are searched, as Node does. Default: the current directory.
   */
  searchPaths?: readonly string[];
  /** The folder relative paths (`./my-backend`) are resolved from. Default: the current directory. */
  cwd?: string;
}

const TYPE_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Resolve and import a backend: `drime` -> `pyrestserver-backend-drime`, `@acme/s3` ->
 * `@acme/pyrestserver-backend-s3`; full package names and paths (`./x`, `/x`) as given.
 */
export async function loadBackend(name: string, options: FindOptions = {}): Promise<LoadedBackend> {
  const cwd = options.cwd ?? process.cwd();
  if (isPathName(name)) return loadPath(path.resolve(cwd, name));

  const packageName = packageNameFor(name);
  const dirs = searchDirs(options.searchPaths ?? [cwd]);
  const found = await findPackage(packageName, dirs);
  if (!found) {
    throw new ConfigError(
      ConfigErrorCode.PLUGIN_NOT_FOUND,
      `backend "${name}" not found: no package ${packageName} in\n  ${dirs.join('\n  ')}`,
      { hint: `Install it: npm i -g ${packageName}` },
    );
  }
  return loadPackage(found, packageName);
}

/** Every backend package in the search paths, loaded (first of each name wins). Broken ones go to `onError`. */
export async function findBackends(
  options: FindOptions & { onError?: (packageName: string, location: string, error: unknown) => void } = {},
): Promise<LoadedBackend[]> {
  const dirs = searchDirs(options.searchPaths ?? [options.cwd ?? process.cwd()]);
  const loaded: LoadedBackend[] = [];
  for (const { name, dir } of await listBackendPackages(dirs)) {
    try {
      const manifest = await readManifest(dir);
      if (!manifest) continue;
      loaded.push(await loadPackage({ dir, manifest }, name));
    } catch (err) {
      if (!options.onError) throw err;
      options.onError(name, dir, err);
    }
  }
  return loaded;
}

async function loadPath(target: string): Promise<LoadedBackend> {
  let isDir: boolean;
  try {
    isDir = (await stat(target)).isDirectory();
  } catch {
    throw new ConfigError(ConfigErrorCode.PLUGIN_NOT_FOUND, `backend ${target} not found: no such file or folder`, {
      hint: 'A path given as --backend must be a plugin package folder or its entry file.',
    });
  }
  if (!isDir) {
    const plugin = await importPlugin(target, target, target);
    return { plugin, packageName: target, version: '', location: path.dirname(target) };
  }
  const manifest = await readManifest(target);
  if (!manifest) {
    throw new ConfigError(ConfigErrorCode.PLUGIN_INVALID, `backend ${target} has no package.json`, {
      hint: 'Point --backend at the plugin package folder (with package.json) or at its entry file.',
    });
  }
  return loadPackage({ dir: target, manifest }, manifest.name ?? target);
}

async function loadPackage(found: FoundPackage, packageName: string): Promise<LoadedBackend> {
  const plugin = await importPlugin(await entryFile(found), packageName, found.dir);
  return { plugin, packageName, version: found.manifest.version ?? '', location: found.dir };
}

/** Import the entry file and check its default export. */
async function importPlugin(entry: string, label: string, dir: string): Promise<BackendPlugin> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (err) {
    throw importError(err, label, dir);
  }
  return checkPlugin(mod, label);
}

/** A module namespace -> the backend plugin it exports by default, or a precise PLUGIN_INVALID / PLUGIN_API_VERSION. */
export function checkPlugin(mod: Record<string, unknown>, label: string): BackendPlugin {
  let candidate = mod.default as Record<string, unknown> | undefined;
  // CommonJS built from ESM sources: module.exports = { __esModule, default: plugin }.
  const inner = candidate?.default as Record<string, unknown> | undefined;
  if (candidate?.kind !== BACKEND_PLUGIN_KIND && inner?.kind === BACKEND_PLUGIN_KIND) candidate = inner;

  const invalid = (why: string) =>
    new ConfigError(ConfigErrorCode.PLUGIN_INVALID, `${label} is not a pyrestserver backend: ${why}`, {
      hint: 'A backend package must `export default defineBackend({ type, optionsSchema, create })` from @pyrestserver/core.',
    });
  if (candidate === undefined) {
    const names = Object.keys(mod).filter((k) => k !== 'default');
    throw invalid(`it has no default export${names.length ? ` (its exports: ${names.join(', ')})` : ''}`);
  }
  if (candidate === null || typeof candidate !== 'object' || candidate.kind !== BACKEND_PLUGIN_KIND) {
    throw invalid(`its default export is ${describe(candidate)}, not an object with kind "${BACKEND_PLUGIN_KIND}"`);
  }
  if (candidate.apiVersion !== PLUGIN_API_VERSION) {
    throw new ConfigError(
      ConfigErrorCode.PLUGIN_API_VERSION,
      `${label} was written for plugin API version ${String(candidate.apiVersion)}, but this pyrestserver speaks version ${PLUGIN_API_VERSION}`,
      { hint: `Install a version of ${label} made for plugin API ${PLUGIN_API_VERSION}, or a pyrestserver that speaks version ${String(candidate.apiVersion)}.` },
    );
  }
  if (typeof candidate.type !== 'string' || !TYPE_NAME.test(candidate.type)) {
    throw invalid(`its type is ${describe(candidate.type)}; expected a lowercase name such as "drime"`);
  }
  if (typeof candidate.create !== 'function') throw invalid(`its create is ${describe(candidate.create)}, not a function`);
  if (candidate.fastifyPlugin !== undefined && typeof candidate.fastifyPlugin !== 'function') {
    throw invalid(`its fastifyPlugin is ${describe(candidate.fastifyPlugin)}, not a Fastify plugin function`);
  }
  const plugin = candidate as unknown as BackendPlugin;
  checkOptionsSchema(plugin, label);
  return plugin;
}

/** ERR_MODULE_NOT_FOUND inside the plugin: a dependency of it is missing (or a file of it). */
function importError(err: unknown, label: string, dir: string): ConfigError {
  const e = err as { code?: string; message?: string };
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(e.message ?? '')?.[1];
  if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && missing) {
    if (isPathName(missing) || missing.startsWith('file:')) {
      return new ConfigError(ConfigErrorCode.PLUGIN_INVALID, `${label} is incomplete: its file ${missing} is missing`, {
        hint: `Reinstall ${label}.`,
        cause: err,
      });
    }
    const dependency = missing.startsWith('@') ? missing.split('/').slice(0, 2).join('/') : missing.split('/')[0]!;
    return new ConfigError(
      ConfigErrorCode.PLUGIN_DEPENDENCY_MISSING,
      `${label} (in ${dir}) needs the package ${dependency}, which is not installed`,
      {
        hint: `Install it where ${label} is installed, e.g. npm i -g ${dependency}, or reinstall ${label} so npm installs its dependencies.`,
        cause: err,
      },
    );
  }
  return new ConfigError(ConfigErrorCode.PLUGIN_INVALID, `${label} failed to load: ${e.message ?? String(err)}`, { cause: err });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    return keys.length ? `an object with keys ${keys.slice(0, 8).join(', ')}` : 'an empty object';
  }
  return `${typeof value} ${JSON.stringify(value)}`;
}
