/**
 * Option validators kept as code between runs.
 *
 * Loading Ajv and compiling a backend's options schema takes about 100 ms of a server's
 * start-up on a small machine, every start (restic's stdio mode and socket activation start a
 * process per use). The compiled validator is therefore saved as standalone code (Ajv's
 * `standaloneCode`) under the user's cache folder, keyed by the schema, Ajv's version and
 * our setup, and the next start loads that instead: the same checks, defaults and coercion,
 * without Ajv.
 *
 * The cache is only a shortcut: any problem with it (no home folder, a read-only disk, a
 * file that does not load) means compiling as before. Its files are code, so they are used
 * only from a folder that belongs to this user and that nobody else can write to.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { AJV_VERSION, createAjv } from './ajv.js';

/** Changes whenever createAjv's setup changes what a compiled validator does. */
const SETUP_VERSION = 1;

const requireHere = createRequire(import.meta.url);

/** `$XDG_CACHE_HOME/pyrestserver/validators` or `~/.cache/...`; undefined to not cache. */
function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PYRESTSERVER_NO_CACHE) return undefined;
  let base = env.XDG_CACHE_HOME;
  if (!base || !path.isAbsolute(base)) {
    let home: string;
    try {
      home = homedir();
    } catch {
      return undefined;
    }
    if (!home || !path.isAbsolute(home)) return undefined;
    base = path.join(home, '.cache');
  }
  return path.join(base, 'pyrestserver', 'validators');
}

/** Ours (this uid) and writable by nobody else. */
function trusted(file: string): boolean {
  try {
    const st = statSync(file);
    const uid = process.getuid?.();
    return (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function load(dir: string, file: string): ValidateFunction | undefined {
  if (!trusted(dir) || !trusted(file)) return undefined;
  try {
    const module = { exports: {} as { default?: ValidateFunction } };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('require', 'module', 'exports', readFileSync(file, 'utf8'))(requireHere, module, module.exports);
    const validate = module.exports.default ?? (module.exports as unknown as ValidateFunction);
    return typeof validate === 'function' ? validate : undefined;
  } catch {
    return undefined;
  }
}

function save(dir: string, file: string, code: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(dir)) return;
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, code, { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // no cache this time
  }
}

/** A validator for `schema`, from the cache when it holds one, else compiled (and saved). */
export function cachedValidator(schema: object, env: NodeJS.ProcessEnv = process.env): ValidateFunction {
  const dir = cacheDir(env);
  const key = createHash('sha256').update(`${AJV_VERSION}\0${SETUP_VERSION}\0${JSON.stringify(schema)}`).digest('hex');
  const file = dir && path.join(dir, `${key.slice(0, 32)}.cjs`);
  const cached = dir && file ? load(dir, file) : undefined;
  if (cached) return cached;
  const ajv = createAjv({ standalone: dir !== undefined });
  const validate = ajv.compile(schema);
  if (dir && file) {
    const { default: standaloneCode } = requireHere('ajv/dist/standalone') as typeof import('ajv/dist/standalone/index.js');
    save(dir, file, standaloneCode(ajv, validate));
  }
  return validate;
}
