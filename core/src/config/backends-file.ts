/**
 * The files named backend configurations live in, read and written as stored
 * (secrets obscured): `backends.toml` (one table per name) and PyRestServer's own
 * per-backend files `<name>.toml` (one flat table), read for migration.
 */
import { mkdir, open, readdir, readFile, realpath, rename, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import { setTable } from './toml-edit.js';

export const BACKENDS_FILE = 'backends.toml';

/** A name is a TOML bare key that is also a safe file name: `local-main`, `cloud_2`, `b.example`. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export interface StoredBackend {
  name: string;
  type: string;
  /** snake_case options as stored: secrets still obscured. */
  options: Record<string, unknown>;
  /** The file it is defined in. */
  file: string;
  /** True for PyRestServer's per-backend `<name>.toml`. */
  legacy: boolean;
}

export interface BackendProblem {
  name: string;
  error: ConfigError;
}

export interface BackendFiles {
  /** From backends.toml, in file order. */
  entries: StoredBackend[];
  /** From `<name>.toml` files whose name is not in backends.toml, by name. */
  legacy: StoredBackend[];
  /** Entries or files that could not be read (the error names the file). */
  problems: BackendProblem[];
  /** backends.toml's text ('' when it does not exist). */
  text: string;
  /** Every top-level name in backends.toml, valid entry or not. */
  names: Set<string>;
}

export function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new ConfigError(
      ConfigErrorCode.USAGE,
      `${JSON.stringify(name)} is not a valid backend name: use letters, digits, "_", "-" and "." (not first)`,
    );
  }
}

/** Parse TOML, or CONFIG_FILE_INVALID naming the file, line and column (never the text: it may hold secrets). */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
    throw new ConfigError(
      ConfigErrorCode.CONFIG_FILE_INVALID,
      `${file}: invalid TOML at line ${err.line}, column ${err.column}: ${reason}`,
      { hint: 'Fix the file by hand; nothing was changed.' },
    );
  }
}

/** A table as a backend entry, or CONFIG_FILE_INVALID when it is not one. */
function toEntry(name: string, table: unknown, file: string, legacy: boolean): StoredBackend {
  const where = legacy ? file : `[${name}] in ${file}`;
  if (table === null || typeof table !== 'object' || Array.isArray(table)) {
    throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${where}: a backend must be a table with a "type"`);
  }
  const { type, ...options } = table as Record<string, unknown>;
  if (typeof type !== 'string' || type === '') {
    throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${where}: "type" must be the backend type, e.g. type = "local"`);
  }
  return { name, type, options: structuredClone(options), file, legacy };
}

const isMissing = (err: unknown) => (err as { code?: string }).code === 'ENOENT';

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return '';
    throw err;
  }
}

/** Every named backend in `dir`. A broken backends.toml is an error; broken legacy files are problems. */
export async function readBackendFiles(dir: string): Promise<BackendFiles> {
  const file = path.join(dir, BACKENDS_FILE);
  const text = await readText(file);
  const problems: BackendProblem[] = [];
  const entries: StoredBackend[] = [];
  const data = parseToml(text, file);
  for (const [name, table] of Object.entries(data)) {
    try {
      entries.push(toEntry(name, table, file, false));
    } catch (err) {
      problems.push({ name, error: err as ConfigError });
    }
  }
  const legacy: StoredBackend[] = [];
  for (const name of await legacyNames(dir)) {
    if (name in data) continue;
    try {
      const entry = await readLegacy(dir, name);
      if (entry) legacy.push(entry);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push({ name, error: err });
    }
  }
  return { entries, legacy, problems, text, names: new Set(Object.keys(data)) };
}

/** Names of the `<name>.toml` files in `dir` (backends.toml aside), sorted. */
async function legacyNames(dir: string): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  return files
    .filter((f) => f.endsWith('.toml') && f !== BACKENDS_FILE)
    .map((f) => f.slice(0, -'.toml'.length))
    .filter((name) => NAME.test(name))
    .sort();
}

/**
 * PyRestServer's `<dir>/<name>.toml`, or undefined when there is none or it is not a
 * backend (no `type`: another program's TOML file in the same folder).
 */
export async function readLegacy(dir: string, name: string): Promise<StoredBackend | undefined> {
  const file = path.join(dir, `${name}.toml`);
  const text = await readText(file);
  if (text === '') return undefined;
  const table = parseToml(text, file);
  if (!('type' in table)) return undefined;
  return toEntry(name, table, file, true);
}

/** What becomes of a table: its new values, or removed, or left as it is. */
export type TableChange = Record<string, unknown> | 'remove' | 'keep';

const ATTEMPTS = 5;

/**
 * Read, change and write table `name` of backends.toml: `decide` gets the files as
 * they are now; the table is edited surgically and the file replaced atomically.
 * pyrestserver commands take turns (a lock file); when another program changed the
 * file in the meantime, all is read and decided again. No one's update is lost.
 * Resolves to the file, or undefined when kept as it was.
 */
export async function updateBackendTable(dir: string, name: string, decide: (files: BackendFiles) => Promise<TableChange>): Promise<string | undefined> {
  const file = path.join(dir, BACKENDS_FILE);
  return withLock(file, async () => {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const files = await readBackendFiles(dir);
      const change = await decide(files);
      if (change === 'keep') return undefined;
      if (await writeFileAtomic(file, setTable(files.text, name, change === 'remove' ? undefined : change), files.text)) return file;
    }
    throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${file} kept being changed by another program; nothing was written`, {
      hint: 'Try again.',
    });
  });
}

/** A lock older than this was left by a command that died: it is taken over. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

/** Run `fn` holding `<file>.lock` (created exclusively, removed after). */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  await mkdir(path.dirname(lock), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(lock, 'wx', 0o600)).close();
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
    const since = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (since > STALE_LOCK_MS) {
      // Take it over, touching it so that other waiters see it held again.
      await utimes(lock, new Date(), new Date()).catch(() => {});
      break;
    }
    if (Date.now() > deadline) {
      throw new ConfigError(ConfigErrorCode.CONFIG_FILE_INVALID, `${lock} is held by another pyrestserver config command`, {
        hint: `If none is running, remove ${lock}.`,
      });
    }
    await sleep(10 + Math.random() * 40);
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => {});
  }
}

/** Delete PyRestServer's `<dir>/<name>.toml`. */
export async function removeLegacy(dir: string, name: string): Promise<string> {
  const file = path.join(dir, `${name}.toml`);
  await unlink(file);
  return file;
}

/**
 * Replace `file` atomically: a temporary file in the same folder (mode 0600),
 * fsync, rename over the target (through a symlink to where it points), fsync the
 * folder. The folder is created with mode 0700 when missing. A failure leaves the
 * old file as it was. With `expected`, the file is replaced only if it still holds
 * that text ('' for none); resolves to false otherwise.
 */
export async function writeFileAtomic(file: string, content: string, expected?: string): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const target = await realpath(file).catch((err: unknown) => {
    if (isMissing(err)) return file;
    throw err;
  });
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await handle.chmod(0o600);
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (expected !== undefined && (await readText(target)) !== expected) return false;
    await rename(temp, target);
    renamed = true;
  } finally {
    if (!renamed) await unlink(temp).catch(() => {});
  }
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
  return true;
}
