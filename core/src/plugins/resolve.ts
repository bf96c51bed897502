/**
 * Backend name -> npm package -> entry file, the way Node would resolve it, but from a
 * chosen list of starting folders (next to the config file, the current directory, the
 * CLI's install folder, ...) instead of from the importing file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ConfigErrorCode } from '../errors.js';

/** Every backend package's name starts with this (after an optional `@scope/`). */
export const BACKEND_PACKAGE_PREFIX = 'pyrestserver-backend-';

const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i;

/** A path rather than a package name: `./x`, `../x`, `/abs/x` (and `C:\x` on Windows). */
export const isPathName = (name: string): boolean => name.startsWith('.') || path.isAbsolute(name);

/**
 * The npm package a backend name stands for:
 * `drime` -> `pyrestserver-backend-drime`, `@acme/s3` -> `@acme/pyrestserver-backend-s3`;
 * a full package name is taken as given.
 */
export function packageNameFor(name: string): string {
  if (!NPM_NAME.test(name)) {
    throw new ConfigError(
      ConfigErrorCode.USAGE,
      `${JSON.stringify(name)} is not a backend name: expected a type such as "drime", an npm package name or a path`,
      /[/\\]/.test(name) ? { hint: `A relative path starts with ./ or ../: ./${name}` } : {},
    );
  }
  const slash = name.indexOf('/');
  const scope = slash === -1 ? '' : name.slice(0, slash + 1);
  const bare = name.slice(scope.length);
  return bare.startsWith(BACKEND_PACKAGE_PREFIX) ? name : `${scope}${BACKEND_PACKAGE_PREFIX}${bare}`;
}

/** The `node_modules` folders Node searches from `dir` upwards, nearest first. */
export function nodeModulesDirs(dir: string): string[] {
  const out: string[] = [];
  for (let current = path.resolve(dir); ; ) {
    out.push(path.basename(current) === 'node_modules' ? current : path.join(current, 'node_modules'));
    const parent = path.dirname(current);
    if (parent === current) return out;
    current = parent;
  }
}

/** The `node_modules` folders of every search path, in order, each once. */
export function searchDirs(searchPaths: readonly string[]): string[] {
  return [...new Set(searchPaths.flatMap(nodeModulesDirs))];
}

export interface PackageManifest {
  name?: string;
  version?: string;
  main?: string;
  exports?: unknown;
  [key: string]: unknown;
}

export interface FoundPackage {
  /** The package's own folder. */
  dir: string;
  manifest: PackageManifest;
}

/** Read `<dir>/package.json`; undefined when there is none. A broken or unreadable one is PLUGIN_INVALID. */
export async function readManifest(dir: string): Promise<PackageManifest | undefined> {
  const file = path.join(dir, 'package.json');
  const broken = (why: string, cause?: unknown) =>
    new ConfigError(ConfigErrorCode.PLUGIN_INVALID, `${file} ${why}`, { hint: 'Reinstall the package.', ...(cause ? { cause } : {}) });
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw broken(`cannot be read: ${(err as { code?: string }).code ?? (err as Error).message}`, err);
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    throw broken(`is not valid JSON: ${(err as Error).message}`);
  }
  if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) throw broken('is not a JSON object');
  return manifest as PackageManifest;
}

/** The first `node_modules/<packageName>` among `dirs` that holds a package.json. */
export async function findPackage(packageName: string, dirs: readonly string[]): Promise<FoundPackage | undefined> {
  for (const nodeModules of dirs) {
    const dir = path.join(nodeModules, packageName);
    const manifest = await readManifest(dir);
    if (manifest) return { dir, manifest };
  }
  return undefined;
}

/** Every `pyrestserver-backend-*` and `@scope/pyrestserver-backend-*` package folder in `dirs` (first of each name wins). */
export async function listBackendPackages(dirs: readonly string[]): Promise<{ name: string; dir: string }[]> {
  const found = new Map<string, string>();
  const add = (name: string, dir: string) => {
    if (!found.has(name)) found.set(name, dir);
  };
  for (const nodeModules of dirs) {
    for (const entry of await entriesOf(nodeModules)) {
      if (entry.startsWith(BACKEND_PACKAGE_PREFIX)) add(entry, path.join(nodeModules, entry));
      else if (entry.startsWith('@')) {
        for (const inner of await entriesOf(path.join(nodeModules, entry))) {
          if (inner.startsWith(BACKEND_PACKAGE_PREFIX)) add(`${entry}/${inner}`, path.join(nodeModules, entry, inner));
        }
      }
    }
  }
  return [...found].map(([name, dir]) => ({ name, dir }));
}

/**
 * The file `import(packageName)` would load: `exports["."]` under the conditions Node
 * uses for import (plus any `--conditions` the process runs with), else `main`, else `index.js`.
 */
export async function entryFile({ dir, manifest }: FoundPackage): Promise<string> {
  const label = manifest.name ?? dir;
  let target: string | undefined;
  if (manifest.exports !== undefined) {
    target = exportsTarget(manifest.exports, importConditions());
    if (target === undefined) {
      throw new ConfigError(
        ConfigErrorCode.PLUGIN_INVALID,
        `${label}: its package.json "exports" has no entry for import("${label}") (conditions tried: ${[...importConditions()].join(', ')})`,
      );
    }
  }
  const candidates = target !== undefined
    ? [target]
    : manifest.main
      ? [manifest.main, `${manifest.main}.js`, path.join(manifest.main, 'index.js')]
      : ['index.js'];
  for (const candidate of candidates) {
    const file = path.resolve(dir, candidate);
    if (await isFile(file)) return file;
  }
  throw new ConfigError(
    ConfigErrorCode.PLUGIN_INVALID,
    `${label}: its entry file ${path.resolve(dir, candidates[0]!)} does not exist (was the package built?)`,
  );
}

/** Resolve a package `exports` value for the subpath "." under `conditions`. */
function exportsTarget(exp: unknown, conditions: ReadonlySet<string>): string | undefined {
  if (typeof exp === 'string') return exp;
  if (Array.isArray(exp)) {
    for (const item of exp) {
      const target = exportsTarget(item, conditions);
      if (target !== undefined) return target;
    }
    return undefined;
  }
  if (exp === null || typeof exp !== 'object') return undefined;
  const map = exp as Record<string, unknown>;
  const keys = Object.keys(map);
  if (keys.some((k) => k.startsWith('.'))) return '.' in map ? exportsTarget(map['.'], conditions) : undefined;
  for (const key of keys) {
    if (!conditions.has(key)) continue;
    const target = exportsTarget(map[key], conditions);
    if (target !== undefined) return target;
  }
  return undefined;
}

/** Node's conditions for `import`, with the user's `--conditions` / `-C` (argv or NODE_OPTIONS). */
function importConditions(): ReadonlySet<string> {
  const conditions = new Set(['node', 'import', 'default']);
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
  args.forEach((arg, i) => {
    const m = /^(?:--conditions|-C)(?:=(.+))?$/.exec(arg);
    const value = m ? (m[1] ?? args[i + 1]) : undefined;
    if (value) conditions.add(value);
  });
  return conditions;
}

async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

export async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

const isMissing = (err: unknown) => {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};
