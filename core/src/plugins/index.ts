/**
 * Plugin loading: resolve a backend by npm name, import it, check its shape, and
 * turn flags / env / config into validated options.
 *
 * The API other modules rely on:
 *   loadBackend(name, { searchPaths? }) -> LoadedBackend     resolve + import + check; ConfigError with install hint
 *   findBackends({ searchPaths? }) -> LoadedBackend[]         for `pyrestserver backends`
 *   validateOptions(plugin, raw, { source }) -> options       ajv (defaults, coercion), ConfigError naming the key/flag
 *   secretKeys(schema) -> string[]                            options annotated `x-secret`
 */
export { loadBackend, findBackends, checkPlugin, type LoadedBackend, type FindOptions } from './load.js';
export {
  validateOptions, secretKeys, describeOptions, envOptions, optionFlag,
  type OptionInfo, type ValidateOptionsContext,
} from './options.js';
export { packageNameFor, nodeModulesDirs, BACKEND_PACKAGE_PREFIX } from './resolve.js';
