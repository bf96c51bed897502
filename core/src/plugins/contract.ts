import type { FastifyPluginAsync, FastifyPluginCallback } from 'fastify';
import type { Logger } from 'pino';
import type { StorageProvider } from '../storage/types.js';

/** The plugin API this core speaks. A plugin states the version it was written for. */
export const PLUGIN_API_VERSION = 1;
/** Marks a module's default export as a pyrestserver backend plugin. */
export const BACKEND_PLUGIN_KIND = 'pyrestserver-backend';

/**
 * Option names a plugin may not use: their flags (`listen` -> `--listen`) belong to
 * pyrestserver itself (`serve`'s flags, `repos --json`, help and version), or would be the
 * `--no-X` form of one (`auth` -> `--no-auth`). Such a plugin would silently receive the core
 * flag's value, so it is refused at load with PLUGIN_OPTION_RESERVED. `path` is not reserved:
 * `--path` is meant to feed a backend's own `path` option (the local backend's data folder).
 */
export const RESERVED_OPTION_NAMES: readonly string[] = [
  'listen', 'no_auth', 'auth', 'htpasswd_file', 'proxy_auth_username', 'private_repos', 'append_only',
  'max_size', 'group_accessible_repos', 'tls', 'tls_cert', 'tls_key', 'tls_min_ver', 'tls_client_ca',
  'trusted_proxy', 'prometheus', 'prometheus_no_auth', 'log', 'no_verify_upload', 'verify_upload', 'debug',
  'backend', 'backend_config', 'config', 'help', 'version', 'json',
];

/**
 * JSON Schema of one option, with the annotations core understands:
 * - `x-secret`: never logged, masked in output, obscured when stored in backends.toml;
 * - `x-env`: the environment variable that fills the option (e.g. `DRIME_API_KEY`);
 * - `description`: shown by `pyrestserver serve --backend NAME --help`.
 * Option names are snake_case (`api_key`); their flags are kebab-case (`--api-key`).
 */
export interface OptionSchema {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object' | readonly string[];
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  items?: OptionSchema;
  'x-secret'?: boolean;
  'x-env'?: string;
  [keyword: string]: unknown;
}

export interface BackendOptionsSchema {
  type: 'object';
  properties: Record<string, OptionSchema>;
  required?: readonly string[];
  additionalProperties?: boolean;
  [keyword: string]: unknown;
}

/** What core hands a plugin's factory besides its validated options. */
export interface BackendContext {
  /** A pino child logger (`{ backend: type }`). Never log secrets. */
  readonly logger: Logger;
  /** `--group-accessible-repos`: directories 0770 and files 0660 instead of 0700/0600. */
  readonly groupAccessible: boolean;
}

export interface BackendPlugin<Options = Record<string, unknown>> {
  /** Always `'pyrestserver-backend'`. */
  readonly kind: typeof BACKEND_PLUGIN_KIND;
  /** The plugin API version this plugin was written for. */
  readonly apiVersion: number;
  /** The backend's type name, as in `--backend TYPE` and `type = "TYPE"` in backends.toml. */
  readonly type: string;
  /** One line for `pyrestserver backends`. */
  readonly description?: string;
  /** JSON Schema of the options (validated with ajv, defaults applied). */
  readonly optionsSchema: BackendOptionsSchema;
  /** Build the provider. May be async (e.g. to check credentials before the server listens). */
  create(options: Options, context: BackendContext): StorageProvider | Promise<StorageProvider>;
  /** Optional Fastify plugin (built with fastify-plugin) registered when this backend is active. */
  readonly fastifyPlugin?: FastifyPluginAsync | FastifyPluginCallback;
}

/** What a plugin author writes: the descriptor without `kind` (and `apiVersion`, which defaults). */
export type BackendDefinition<Options> = Omit<BackendPlugin<Options>, 'kind' | 'apiVersion'> & { apiVersion?: number };

/** The TypeScript type of one option's value, read from its JSON Schema (`enum`, `type`, `items`). */
export type OptionValue<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly type: readonly (infer T)[] }
    ? ValueOfType<T, S>
    : S extends { readonly type: infer T }
      ? ValueOfType<T, S>
      : unknown;

type ValueOfType<T, S> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'array'
        ? S extends { readonly items: infer I } ? OptionValue<I>[] : unknown[]
        : T extends 'object'
          ? Record<string, unknown>
          : T extends 'null' ? null : unknown;

type RequiredKeys<S> = S extends { readonly required: readonly (infer K)[] } ? K : never;
/** Options with a `default` are always set when `create` runs (ajv applies defaults). */
type DefaultedKeys<P> = { [K in keyof P]: P[K] extends { readonly default: unknown } ? K : never }[keyof P];
type Always<S extends { properties: object }> = keyof S['properties'] & (RequiredKeys<S> | DefaultedKeys<S['properties']>);

/**
 * The options `create` receives, derived from the schema written `as const` (or inline in
 * `defineBackend`, which infers it): required and defaulted options are present, the others
 * optional; `enum` gives a union of its values; `integer`/`number` give number.
 *
 *     const schema = { type: 'object', properties: { bucket: { type: 'string' } }, required: ['bucket'] } as const;
 *     type S3Options = OptionsOf<typeof schema>;   // { bucket: string }
 */
export type OptionsOf<S extends { properties: object }> = {
  -readonly [K in Always<S>]: OptionValue<S['properties'][K]>;
} & {
  -readonly [K in Exclude<keyof S['properties'], Always<S>>]?: OptionValue<S['properties'][K]>;
} extends infer O ? { [K in keyof O]: O[K] } : never;

/**
 * Typed helper for plugin authors: `export default defineBackend({ type, optionsSchema, create })`.
 * With the schema written inline (or `as const`), `create`'s options are typed from it
 * (`OptionsOf`), so the type is not written twice. `defineBackend<MyOptions>({ ... })` still
 * works for an options type written by hand.
 */
export function defineBackend<const S extends BackendOptionsSchema>(
  plugin: BackendDefinition<OptionsOf<S>> & { readonly optionsSchema: S },
): BackendPlugin<OptionsOf<S>>;
export function defineBackend<Options = Record<string, unknown>>(plugin: BackendDefinition<Options>): BackendPlugin<Options>;
export function defineBackend<Options>(plugin: BackendDefinition<Options>): BackendPlugin<Options> {
  return { ...plugin, kind: BACKEND_PLUGIN_KIND, apiVersion: plugin.apiVersion ?? PLUGIN_API_VERSION };
}
