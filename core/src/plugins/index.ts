/**
 * Plugin loading: resolve a backend by npm name, import it, check its shape, and
 * turn flags / env / config into validated options. (To be written: issue 3.)
 *
 * The API other modules rely on:
 *   loadBackend(name, { searchPaths? }) -> LoadedBackend     resolve + import + check; ConfigError with install hint
 *   findBackends({ searchPaths? }) -> LoadedBackend[]         for `pyrestserver backends`
 *   validateOptions(plugin, raw, { source }) -> options       ajv (defaults, coercion), ConfigError naming the key/flag
 *   secretKeys(schema) -> string[]                            options annotated `x-secret`
 */
import type { BackendPlugin } from './contract.js';

export interface LoadedBackend {
  plugin: BackendPlugin;
  /** The npm package name it came from, e.g. `pyrestserver-backend-drime`. */
  packageName: string;
  version: string;
  /** The folder the package was found in. */
  location: string;
}
