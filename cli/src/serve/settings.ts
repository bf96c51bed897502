/**
 * Everything `serve` needs before it starts, worked out from the command line, the
 * environment, the config file and `backends.toml`, without side effects (no listening),
 * so it can be tested and so bad input fails before anything is opened.
 *
 * Precedence, for serve flags and backend options alike:
 *   command-line flag > --backend-config entry (backends.toml, backend options only)
 *   > environment (PYRESTSERVER_*, a backend option's `x-env`) > config file > default.
 */
import path from 'node:path';
import {
  ConfigError, ConfigErrorCode, describeOptions, envOptions, getBackendConfig, loadBackend, loadConfigFile,
  validateOptions, secretKeys,
  type LoadedBackend, type LoadedConfigFile, type NamedBackend, type ServerOptions,
} from '@pyrestserver/core';
import { pluginSearchPaths } from '../plugin-search.js';
import { envNameOf, parseFlags, peekFlags, resolveFlags, SERVE_FLAGS, type FlagSpec, type ResolvedFlags } from './flags.js';

export interface PreparedServe {
  configFile?: LoadedConfigFile;
  namedBackend?: NamedBackend;
  backend: LoadedBackend;
  searchPaths: string[];
  /** Serve flags followed by the backend's option flags: what `serve` accepts. */
  flags: FlagSpec[];
  /** Backend option key for each flag that feeds one (`api-key` -> `api_key`, `path` -> `path`). */
  optionOfFlag: Map<string, string>;
}

export interface ServeSettings {
  backend: LoadedBackend;
  /** Validated backend options (defaults applied). */
  backendOptions: Record<string, unknown>;
  /** Values of the backend's `x-secret` options, to keep out of logs and error messages. */
  secretValues: string[];
  /** Option names to redact in logs. */
  secretKeys: string[];
  listen: string;
  debug: boolean;
  groupAccessible: boolean;
  /** ServerOptions without provider, logger and backendPlugin (made by the caller). */
  server: Omit<ServerOptions, 'provider' | 'logger' | 'backendPlugin'>;
  /** The config file used, if any. */
  configFile?: string;
}

interface Context {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * Step 1, before the command line is fully parsed: read --config, --backend-config and
 * --backend (flag > env > config file), load the config file and the backend plugin, and
 * list the flags `serve` will accept.
 */
export async function prepareServe(args: readonly string[], { env, cwd }: Context): Promise<PreparedServe> {
  const early = peekFlags(args);
  const configPath = early.config ?? nonEmpty(env[envNameOf('config')]);
  const configFile = await loadConfigFile({ ...(configPath ? { file: configPath } : {}), cwd });
  const fileServe = configFile?.config.serve ?? {};
  const searchPaths = pluginSearchPaths({ ...(configFile ? { configFile: configFile.filepath } : {}), cwd });

  const namedName = early['backend-config'] ?? nonEmpty(env[envNameOf('backend-config')]) ?? stringOr(fileServe['backend-config']);
  const namedBackend = namedName ? await getBackendConfig(namedName, { searchPaths, cwd, env }) : undefined;
  if (namedBackend && early.backend && early.backend !== namedBackend.type) {
    throw new ConfigError(
      ConfigErrorCode.USAGE,
      `--backend ${early.backend} does not match --backend-config ${namedBackend.name}, whose type is ${namedBackend.type}`,
      { hint: 'Give one of them.' },
    );
  }
  // A path in the config file is relative to the config file; anywhere else, to the current directory.
  const fromFile = stringOr(fileServe.backend) ?? configFile?.config.backend;
  const chosen = early.backend ?? namedBackend?.type ?? nonEmpty(env[envNameOf('backend')]);
  const backendName = chosen ?? fromFile ?? 'local';
  const base = chosen === undefined && fromFile !== undefined ? path.dirname(configFile!.filepath) : cwd;

  const backend = await loadFromConfigPlugins(backendName, configFile, searchPaths)
    ?? await loadBackend(backendName, { searchPaths, cwd: base });

  const serveNames = new Set(SERVE_FLAGS.map((f) => f.name));
  const optionOfFlag = new Map<string, string>();
  const flags: FlagSpec[] = [...SERVE_FLAGS];
  for (const option of describeOptions(backend.plugin.optionsSchema)) {
    const name = option.flag.slice(2);
    optionOfFlag.set(name, option.key);
    if (serveNames.has(name)) continue; // e.g. --path: a serve flag that also feeds the local backend
    const notes = [
      option.secret ? 'secret' : '',
      option.env ? `env ${option.env}` : '',
      option.required ? 'required' : '',
      option.type === 'boolean' && option.default === true ? `--no-${name} to turn off` : '',
    ].filter(Boolean);
    flags.push({
      name,
      kind: option.type === 'boolean' ? 'boolean' : 'string',
      placeholder: option.valueText,
      description: `${backend.plugin.type}: ${option.description ?? option.key}${notes.length ? ` [${notes.join(', ')}]` : ''}`,
      ...(option.default !== undefined ? { default: option.default as string | number | boolean } : {}),
      ...(option.type.endsWith('[]') ? { multiple: true } : {}),
      noEnv: true,
    });
  }
  return {
    ...(configFile ? { configFile } : {}),
    ...(namedBackend ? { namedBackend } : {}),
    backend,
    searchPaths,
    flags,
    optionOfFlag,
  };
}

/** Step 2: parse every flag and merge all sources into validated settings. */
export function resolveServeSettings(
  prepared: PreparedServe, args: readonly string[], { env, cwd }: Context, command = 'serve',
): ServeSettings {
  const { values: argv, positionals } = parseFlags(args, prepared.flags);
  const extra = positionals.filter((p) => p !== command);
  if (extra.length > 0 || positionals.length !== 1) {
    throw new ConfigError(ConfigErrorCode.USAGE, `${command} takes no arguments, got: ${extra.join(' ')}`, {
      hint: `See \`pyrestserver ${command} --help\`.`,
    });
  }
  const { configFile, backend } = prepared;
  const serveFlags = prepared.flags.filter((f) => !f.noEnv);
  const resolved = resolveFlags(serveFlags, {
    argv,
    env,
    ...(configFile ? { file: { values: configFile.config.serve ?? {}, filepath: configFile.filepath } } : {}),
  });
  const flag = resolved.values;

  const { options: backendOptions, sources } = backendOptionsFrom(prepared, argv, env, resolved);
  const options = validateOptions(backend.plugin, backendOptions, { source: sources });
  const secrets = secretKeys(backend.plugin.optionsSchema);

  const dataPath = path.resolve(cwd, typeof options.path === 'string' ? options.path : String(flag.path));
  const tls = tlsOptions(flag, dataPath, cwd);
  const config = configFile?.config;
  return {
    backend,
    backendOptions: options,
    secretKeys: secrets,
    secretValues: secrets.map((k) => options[k]).filter((v): v is string => typeof v === 'string' && v !== ''),
    listen: String(flag.listen),
    debug: flag.debug === true,
    groupAccessible: flag['group-accessible-repos'] === true,
    ...(configFile ? { configFile: configFile.filepath } : {}),
    server: {
      auth: authOptions(flag, dataPath, cwd),
      appendOnly: flag['append-only'] === true,
      privateRepos: flag['private-repos'] === true,
      ...(typeof flag['max-size'] === 'number' ? { maxSize: flag['max-size'] } : {}),
      ...(config?.users ? { users: config.users } : {}),
      ...(config?.repos ? { repos: config.repos } : {}),
      prometheus: flag.prometheus === true,
      prometheusNoAuth: flag['prometheus-no-auth'] === true,
      ...(typeof flag.log === 'string' ? { log: flag.log } : {}),
      ...(tls ? { tls } : {}),
      verifyUpload: flag['no-verify-upload'] !== true,
    },
  };
}

/**
 * The backend's raw options, lowest to highest: config file `backends.<type>`, its `x-env`
 * variables, the --backend-config entry, its flags. A serve flag that is also a
 * backend option (`--path` for local) feeds it at the same rank it has among serve flags.
 */
function backendOptionsFrom(prepared: PreparedServe, argv: Record<string, unknown>, env: NodeJS.ProcessEnv, serve: ResolvedFlags) {
  const { plugin } = prepared.backend;
  const options: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const set = (key: string, value: unknown, source: string) => {
    options[key] = value;
    sources[key] = source;
  };
  const shared = [...prepared.optionOfFlag].filter(([name]) => SERVE_FLAGS.some((f) => f.name === name));
  const sharedFrom = (rank: (source: string) => boolean) => {
    for (const [name, key] of shared) {
      const source = serve.sources[name];
      if (source && rank(source)) set(key, serve.values[name], source);
    }
  };

  const file = prepared.configFile;
  if (file) {
    sharedFrom((s) => s.startsWith('serve.'));
    for (const [key, value] of Object.entries(file.config.backends?.[plugin.type] ?? {})) {
      set(key, value, `backends.${plugin.type}.${key} in ${file.filepath}`);
    }
  }
  sharedFrom((s) => s.startsWith('PYRESTSERVER_'));
  const fromEnv = envOptions(plugin.optionsSchema, env);
  for (const [key, value] of Object.entries(fromEnv.values)) set(key, value, fromEnv.sources[key]!);
  // A named entry is chosen on the command line, so it outranks ambient environment variables.
  const named = prepared.namedBackend;
  if (named) {
    for (const [key, value] of Object.entries(named.options)) set(key, value, `${key} of backend config "${named.name}"`);
  }
  for (const [name, key] of prepared.optionOfFlag) {
    const value = argv[name];
    if (value !== undefined) set(key, value, `--${name}`);
  }
  return { options, sources };
}

/** rest-server's order: --no-auth, else the proxy's header, else the htpasswd file (default `<path>/.htpasswd`). */
function authOptions(flag: Record<string, unknown>, dataPath: string, cwd: string): ServerOptions['auth'] {
  if (flag['no-auth'] === true) return { kind: 'none' };
  const header = flag['proxy-auth-username'];
  if (typeof header === 'string') return { kind: 'proxy', header };
  const file = flag['htpasswd-file'];
  return { kind: 'htpasswd', file: path.resolve(cwd, typeof file === 'string' ? file : path.join(dataPath, '.htpasswd')) };
}

function tlsOptions(flag: Record<string, unknown>, dataPath: string, cwd: string): ServerOptions['tls'] {
  const cert = typeof flag['tls-cert'] === 'string' ? flag['tls-cert'] : undefined;
  const key = typeof flag['tls-key'] === 'string' ? flag['tls-key'] : undefined;
  if (flag.tls !== true) {
    if (cert || key) {
      throw new ConfigError(ConfigErrorCode.TLS_SETUP, '--tls-cert and --tls-key require --tls', { hint: 'Add --tls.' });
    }
    return undefined;
  }
  const minVersion = String(flag['tls-min-ver']);
  if (minVersion !== '1.2' && minVersion !== '1.3') {
    throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `--tls-min-ver: expected 1.2 or 1.3, got ${JSON.stringify(minVersion)}`);
  }
  return {
    cert: path.resolve(cwd, cert ?? path.join(dataPath, 'public_key')),
    key: path.resolve(cwd, key ?? path.join(dataPath, 'private_key')),
    minVersion,
  };
}

/** Plugins named in the config file's `plugins` (relative to it) whose type is `name`. */
async function loadFromConfigPlugins(name: string, configFile: LoadedConfigFile | undefined, searchPaths: string[]) {
  for (const entry of configFile?.config.plugins ?? []) {
    const loaded = await loadBackend(entry, { searchPaths, cwd: path.dirname(configFile!.filepath) });
    if (loaded.plugin.type === name) return loaded;
  }
  return undefined;
}

const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
const stringOr = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
