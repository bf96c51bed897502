/**
 * A backend's options: its JSON Schema checked once at load, described for `--help` and
 * `pyrestserver backends`, read from the environment (`x-env`), and validated with
 * defaults applied and strings coerced (`"8"` -> 8 for integers; `0123` stays a string
 * for string options).
 */
import type { ValidateFunction } from 'ajv';
import { ConfigError, ConfigErrorCode } from '../errors.js';
import { RESERVED_OPTION_NAMES, type BackendOptionsSchema, type BackendPlugin, type OptionSchema } from './contract.js';
import { errorPath, errorText } from './ajv.js';
import { cachedValidator } from './validator-cache.js';

const validators = new WeakMap<object, ValidateFunction>();

/** Option names are snake_case so that each maps to one kebab-case flag. */
const OPTION_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface OptionInfo {
  /** snake_case name, as in config files and backends.toml. */
  key: string;
  /** The `serve` flag, e.g. `--api-key`. */
  flag: string;
  /** The JSON Schema type(s), e.g. `string`, `integer`, `string|integer`. */
  type: string;
  /** The allowed values of an `enum` option. */
  enum?: readonly unknown[];
  /** What help shows for the value: the enum's values (`STANDARD|GLACIER`), else `type`. */
  valueText: string;
  default?: unknown;
  required: boolean;
  secret: boolean;
  env?: string;
  description?: string;
}

/** `api_key` -> `--api-key`. */
export const optionFlag = (key: string): string => `--${key.replace(/_/g, '-')}`;

/** Every option of a schema, in schema order. */
export function describeOptions(schema: BackendOptionsSchema): OptionInfo[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([key, option]) => ({
    key,
    flag: optionFlag(key),
    type: typeName(option),
    ...(option.enum ? { enum: option.enum } : {}),
    valueText: option.enum ? option.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('|') : typeName(option),
    ...(option.default !== undefined ? { default: option.default } : {}),
    required: required.has(key),
    secret: option['x-secret'] === true,
    ...(option['x-env'] ? { env: option['x-env'] } : {}),
    ...(option.description ? { description: option.description } : {}),
  }));
}

/** Options annotated `x-secret`: never logged, masked in output. */
export function secretKeys(schema: BackendOptionsSchema): string[] {
  return Object.entries(schema.properties).filter(([, o]) => o['x-secret'] === true).map(([key]) => key);
}

/** Options filled from the environment through `x-env`, with where each came from. */
export function envOptions(
  schema: BackendOptionsSchema,
  env: NodeJS.ProcessEnv = process.env,
): { values: Record<string, unknown>; sources: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const [key, option] of Object.entries(schema.properties)) {
    const name = option['x-env'];
    const value = name ? env[name] : undefined;
    if (name && value !== undefined && value !== '') {
      values[key] = value;
      sources[key] = name;
    }
  }
  return { values, sources };
}

/**
 * Check a plugin's options schema: an object schema whose property names are snake_case,
 * which ajv compiles (unknown keywords are errors). Throws PLUGIN_SCHEMA_INVALID.
 */
export function checkOptionsSchema(plugin: BackendPlugin, label: string): void {
  const fail = (why: string): never => {
    throw new ConfigError(ConfigErrorCode.PLUGIN_SCHEMA_INVALID, `${label}: its optionsSchema ${why}`);
  };
  const schema = plugin.optionsSchema as Partial<BackendOptionsSchema> | undefined;
  if (!schema || typeof schema !== 'object') fail('is missing');
  if (schema!.type !== 'object') fail(`must have type "object", not ${JSON.stringify(schema!.type)}`);
  if (!schema!.properties || typeof schema!.properties !== 'object') fail('must have "properties"');
  for (const [key, option] of Object.entries(schema!.properties!)) {
    if (!OPTION_NAME.test(key)) fail(`has option ${JSON.stringify(key)}: option names must be snake_case (a-z, 0-9, _)`);
    if (RESERVED_OPTION_NAMES.includes(key)) {
      throw new ConfigError(
        ConfigErrorCode.PLUGIN_OPTION_RESERVED,
        `${label}: its option ${key} would be the flag ${optionFlag(key)}, which pyrestserver itself uses`,
        { hint: `Rename the option (e.g. ${plugin.type ?? 'backend'}_${key}). Reserved names: ${RESERVED_OPTION_NAMES.join(', ')}.` },
      );
    }
    const env = (option as OptionSchema)['x-env'];
    if (env !== undefined && (typeof env !== 'string' || !ENV_NAME.test(env))) {
      fail(`has option ${key} with x-env ${JSON.stringify(env)}: expected an environment variable name`);
    }
  }
  try {
    validatorFor(schema as BackendOptionsSchema);
  } catch (err) {
    fail(`is not a valid JSON Schema: ${(err as Error).message}`);
  }
}

export interface ValidateOptionsContext {
  /**
   * Where each option's value came from, for error messages: `--api-key`, `DRIME_API_KEY`,
   * `backends.drime.api_key in /etc/pyrestserver.toml`. Unnamed keys are called `option <key>`.
   */
  source?: Record<string, string> | ((key: string) => string | undefined);
}

/**
 * Validate raw options against the plugin's schema: defaults applied, strings coerced.
 * Returns a new object (the input is not changed). Throws OPTIONS_INVALID naming every
 * bad key, where it came from and what was expected; secret values are never shown.
 */
export function validateOptions<Options = Record<string, unknown>>(
  plugin: BackendPlugin<Options>,
  raw: Record<string, unknown>,
  context: ValidateOptionsContext = {},
): Options {
  const schema = plugin.optionsSchema;
  const options = structuredClone(raw);
  const validate = validatorFor(schema);
  if (validate(options)) return options as Options;

  const secrets = new Set(secretKeys(schema));
  const sourceOf = (key: string) =>
    (typeof context.source === 'function' ? context.source(key) : context.source?.[key]) ?? `option ${key}`;
  const known = Object.keys(schema.properties);
  const problems = (validate.errors ?? []).map((err) => {
    const [key = '', ...rest] = errorPath(err);
    const where = sourceOf(key) + (rest.length ? ` (at ${rest.join('.')})` : '');
    if (err.keyword === 'required') {
      const option = schema.properties[key];
      const ways = [optionFlag(key), option?.['x-env'], `"${key}" under backends.${plugin.type} in the config file`];
      return `option ${key} is required: set ${ways.filter(Boolean).join(' or ')}`;
    }
    if (err.keyword === 'additionalProperties') {
      return `${where}: the ${plugin.type} backend has no option ${key}${known.length ? ` (its options: ${known.join(', ')})` : ''}`;
    }
    const value = (raw as Record<string, unknown>)[key];
    const shown = secrets.has(key) || value === undefined || rest.length ? '' : ` (got ${JSON.stringify(value)})`;
    return `${where}: ${errorText(err)}${shown}`;
  });
  throw new ConfigError(
    ConfigErrorCode.OPTIONS_INVALID,
    `invalid options for the ${plugin.type} backend:\n  ${[...new Set(problems)].join('\n  ')}`,
  );
}

function validatorFor(schema: BackendOptionsSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = cachedValidator(schema);
    validators.set(schema, validate);
  }
  return validate;
}

function typeName(option: OptionSchema): string {
  if (Array.isArray(option.type)) return option.type.join('|');
  if (typeof option.type === 'string') return option.type === 'array' && option.items ? `${typeName(option.items)}[]` : option.type;
  if (option.enum) return 'enum';
  return 'any';
}
