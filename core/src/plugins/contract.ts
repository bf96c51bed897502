import type { FastifyPluginAsync, FastifyPluginCallback } from 'fastify';
import type { Logger } from 'pino';
import type { StorageProvider } from '../storage/types.js';

/** The plugin API this core speaks. A plugin states the version it was written for. */
export const PLUGIN_API_VERSION = 1;
/** Marks a module's default export as a pyrestserver backend plugin. */
export const BACKEND_PLUGIN_KIND = 'pyrestserver-backend';

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

/** Typed helper for plugin authors: `export default defineBackend({ type, optionsSchema, create })`. */
export function defineBackend<Options = Record<string, unknown>>(
  plugin: Omit<BackendPlugin<Options>, 'kind' | 'apiVersion'> & { apiVersion?: number },
): BackendPlugin<Options> {
  return { ...plugin, kind: BACKEND_PLUGIN_KIND, apiVersion: plugin.apiVersion ?? PLUGIN_API_VERSION };
}
