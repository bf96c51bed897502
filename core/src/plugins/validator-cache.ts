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
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { trusted, userCacheDir } from '../user-cache.js';
import { AJV_VERSION, createAjv } from './ajv.js';

/** Changes whenever createAjv's setup changes what a compiled validator does. */
const SETUP_VERSION = 1;

const requireHere = createRequire(import.meta.url);

function load(file: string): ValidateFunction | undefined {
  if (!trusted(file)) return undefined;
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

function save(file: string, code: string): void {
  try {
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, code, { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // no cache this time
  }
}

/** A validator for `schema`, from the cache when it holds one, else compiled (and saved). */
export function cachedValidator(schema: object, env: NodeJS.ProcessEnv = process.env): ValidateFunction {
  const dir = userCacheDir('validators', env);
  const key = createHash('sha256').update(`${AJV_VERSION}\0${SETUP_VERSION}\0${JSON.stringify(schema)}`).digest('hex');
  const file = dir && path.join(dir, `${key.slice(0, 32)}.cjs`);
  const cached = file ? load(file) : undefined;
  if (cached) return cached;
  const ajv = createAjv({ standalone: dir !== undefined });
  const validate = ajv.compile(schema);
  if (file) {
    const { default: standaloneCode } = requireHere('ajv/dist/standalone') as typeof import('ajv/dist/standalone/index.js');
    save(file, standaloneCode(ajv, validate));
  }
  return validate;
}
