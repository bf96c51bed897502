/**
 * Named backend configurations in `backends.toml` (issue 6). (To be written.)
 *
 * The API other modules rely on:
 *   configDir(env?) -> string   PYRESTSERVER_CONFIG_DIR, else $XDG_CONFIG_HOME/pyrestserver, else ~/.config/pyrestserver
 *   getBackendConfig(name, { dir? }) -> Promise<NamedBackend>   options with secrets revealed; also reads
 *       PyRestServer's per-backend `<dir>/<name>.toml`; ConfigError BACKEND_CONFIG_NOT_FOUND when missing
 */
export interface NamedBackend {
  name: string;
  type: string;
  /** snake_case options as stored, secrets revealed. */
  options: Record<string, unknown>;
}
