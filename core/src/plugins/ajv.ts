/**
 * The one ajv setup pyrestserver uses for option schemas and config files: strict about
 * schema keywords (a typo in a plugin's schema is an error, not silently ignored), with
 * pyrestserver's annotations registered, the standard `format`s (ajv-formats), defaults
 * applied and strings coerced.
 */
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject } from 'ajv';

// Loaded on first use (synchronously: validation is synchronous): a server whose option
// validators come from the cache (validator-cache.ts) starts without loading Ajv at all.
const requireHere = createRequire(import.meta.url);

/** Ajv's version, part of a cached validator's key. */
export const AJV_VERSION = (requireHere('ajv/package.json') as { version: string }).version;

export function createAjv(options: { standalone?: boolean } = {}): Ajv {
  const { Ajv: AjvClass, _ } = requireHere('ajv') as typeof import('ajv');
  const addFormats = requireHere('ajv-formats') as typeof import('ajv-formats').default;
  const ajv = new AjvClass({
    // For a validator saved as code (validator-cache.ts): the formats it checks come from
    // ajv-formats, required by the code itself.
    ...(options.standalone ? { code: { source: true, formats: _`require("ajv-formats/dist/formats").fullFormats` } } : {}),
    allErrors: true,
    useDefaults: true,
    coerceTypes: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
  });
  // date, time, date-time, duration, uri, uri-reference, url, email, hostname, ipv4, ipv6,
  // regex, uuid, json-pointer, ... (docs/custom-backends.md lists them); an unknown one is an error.
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-env', schemaType: 'string' });
  return ajv;
}

/** The path of an error as `a.b.c` (the property named by `required`/`additionalProperties` included). */
export function errorPath(err: ErrorObject): string[] {
  const parts = err.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra = (err.params as { missingProperty?: string; additionalProperty?: string });
  const named = extra.missingProperty ?? extra.additionalProperty;
  return named === undefined ? parts : [...parts, named];
}

/** "must be integer", "must be one of: a, b", "is not a known key", "is required". */
export function errorText(err: ErrorObject): string {
  const params = err.params as { allowedValues?: unknown[] };
  switch (err.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known key';
    case 'enum':
      return `must be one of: ${(params.allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return err.message ?? 'is invalid';
  }
}
