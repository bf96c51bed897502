import type { CAC } from 'cac';
import { constants } from 'node:os';
import {
  checkLocalSettings, ConfigError, ConfigErrorCode, createServer, listen,
  type StorageProvider,
} from '@pyrestserver/core';
import { helpOf, SERVE_FLAGS, usageOf, type FlagSpec } from '../serve/flags.js';
import { prepareServe, resolveServeSettings, type PreparedServe, type ServeSettings } from '../serve/settings.js';
import { createLogger } from '../serve/logger.js';
import { listenForHangup, type Reloadable } from '../serve/reload.js';
import { isConfigError, startBackend } from '../serve/backend.js';

export interface ServeCommand {
  /** Load the config file and the backend plugin, and add the backend's option flags (before the final parse). */
  prepare(args: readonly string[]): Promise<void>;
}

/** `pyrestserver serve`: rest-server's flags, the backend's options as flags, a config file. */
export function registerServe(cli: CAC, context = { env: process.env, cwd: process.cwd() }): ServeCommand {
  const command = cli.command('serve', 'Serve restic repositories over the REST protocol (rest-server compatible)');
  const addFlags = (flags: readonly FlagSpec[]) => {
    for (const flag of flags) {
      command.option(usageOf(flag), helpOf(flag));
      const option = command.options.at(-1)!;
      // cac gives `--no-x` flags a default of true, which its help would show; defaults are in the text.
      delete option.config.default;
      // The action parses the arguments itself (parseFlags, strict: a missing value is an error
      // there). cac's own check would refuse `--log -` (rest-server's "log to stdout"): its parser
      // reads the `-` as a flag and the value as missing.
      option.required = false;
    }
  };
  addFlags(SERVE_FLAGS);
  command
    // parseFlags checks every flag strictly; cac's own check would refuse `--no-auth=false`.
    .allowUnknownOptions()
    .usage('serve [options]')
    .example((bin) => `  $ ${bin} serve --path /srv/restic            # local disk, users from /srv/restic/.htpasswd`)
    .example((bin) => `  $ ${bin} serve --backend drime --help     # the flags of the drime backend`)
    .example((bin) => `  $ DRIME_API_KEY=... ${bin} serve --backend drime --no-auth --listen 127.0.0.1:8000`);
  let prepared: PreparedServe | undefined;

  command.action(async () => {
    if (!prepared) prepared = await prepareServe(cli.rawArgs.slice(2), context);
    const settings = resolveServeSettings(prepared, cli.rawArgs.slice(2), context);
    if (settings.stdio) return (await import('../serve/stdio.js')).runStdio(settings, settings.stdio);
    return runServer(settings);
  });

  return {
    async prepare(args) {
      prepared = await prepareServe(args, context);
      const { plugin, packageName, version } = prepared.backend;
      command.usage(`serve [options]\n\n  Backend: ${plugin.type} (${packageName}${version ? ` ${version}` : ''}); ${backendOptionsNote(prepared)}.`);
      addFlags(prepared.flags.slice(SERVE_FLAGS.length));
      if (!prepared.optionOfFlag.has('path')) {
        const option = command.options.find((o) => o.name === 'path');
        if (option) option.description = pathWithoutStorage(plugin.type);
      }
    },
  };
}

/** Where `serve --help` shows the backend's options: its own flags come last, marked `type:`. */
function backendOptionsNote(prepared: PreparedServe): string {
  const { type } = prepared.backend.plugin;
  const own = prepared.flags.length - SERVE_FLAGS.length;
  const shared = [...prepared.optionOfFlag.keys()].filter((name) => SERVE_FLAGS.some((f) => f.name === name)).map((n) => `--${n}`);
  const sharedNote = shared.length ? `${shared.join(', ')} (a serve flag) ${shared.length === 1 ? 'is' : 'are'} also its option${shared.length === 1 ? '' : 's'}` : '';
  if (own > 0) return `its options are the ${own} flag${own === 1 ? '' : 's'} marked "${type}:" at the end${sharedNote ? `; ${sharedNote}` : ''}`;
  return sharedNote ? `it has no flags of its own; ${sharedNote}` : 'it has no options';
}

/** `--path` for a backend that stores elsewhere: what it still sets. */
export const pathWithoutStorage = (type: string): string =>
  `not where the ${type} backend stores; still the folder of the defaults <path>/.htpasswd (--htpasswd-file), <path>/public_key and <path>/private_key (--tls-cert, --tls-key) (default: /tmp/restic)`;

/** Start the backend and the server, then serve until SIGINT/SIGTERM. Resolves to the exit code. */
async function runServer(settings: ServeSettings): Promise<number> {
  const logger = createLogger({ debug: settings.debug, secretKeys: settings.secretKeys });
  const { plugin } = settings.backend;
  // The auth file, TLS files and listen address first: a backend may take seconds to reach.
  await checkLocalSettings({ ...settings.server, listen: settings.listen });
  // From the start: Node's default for SIGHUP is to exit (`systemctl reload` must not).
  const reloadable: Reloadable = {};
  const stopHangup = listenForHangup(reloadable, settings, logger);
  let app: Awaited<ReturnType<typeof createServer>> | undefined;
  let address: string;
  let provider: StorageProvider | undefined;
  try {
    provider = await startBackend(settings, logger);
    reloadable.options = {
      ...settings.server,
      provider,
      logger,
      ...(plugin.fastifyPlugin ? { backendPlugin: plugin.fastifyPlugin } : {}),
    };
    app = await createServer(reloadable.options);
    address = await listenOn(app, settings.listen);
    reloadable.app = app;
  } catch (err) {
    stopHangup();
    await app?.close().catch(() => {});
    await provider?.close?.().catch(() => {});
    throw err;
  }
  const { server } = settings;
  logger.info({
    address,
    backend: plugin.type,
    package: settings.backend.packageName,
    ...(typeof settings.backendOptions.path === 'string' ? { path: settings.backendOptions.path } : {}),
    auth: server.auth.kind,
    appendOnly: server.appendOnly,
    privateRepos: server.privateRepos,
    ...(server.maxSize !== undefined ? { maxSize: server.maxSize } : {}),
    ...(settings.configFile ? { configFile: settings.configFile } : {}),
  }, 'listening');

  const signal = await nextSignal();
  // A second signal while draining: stop at once, with the shell's code for it (130, 143).
  const force = (second: NodeJS.Signals) => process.exit(128 + (constants.signals[second] ?? 0));
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  logger.info({ signal }, 'shutting down: finishing requests in flight');
  try {
    await closeGracefully(app);
    await provider.close?.();
  } finally {
    process.off('SIGINT', force);
    process.off('SIGTERM', force);
    stopHangup();
  }
  logger.info('stopped');
  return 0;
}

/**
 * Stop accepting connections and let requests in flight finish. Fastify closes the idle
 * keep-alive connections once, when closing starts; a connection whose request finishes
 * later would stay open until its keep-alive timeout (72 s; restic keeps connections open),
 * so each is closed as soon as it goes idle.
 */
async function closeGracefully(app: Awaited<ReturnType<typeof createServer>>): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}

/** Kept here for the commands that start a backend as serve does (repos). */
export { startBackend } from '../serve/backend.js';

async function listenOn(app: Parameters<typeof listen>[0], spec: string): Promise<string> {
  try {
    return await listen(app, spec);
  } catch (err) {
    if (isConfigError(err)) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(ConfigErrorCode.LISTEN, `cannot listen on ${spec}: ${e.code ? `${e.code} ` : ''}${e.message}`, {
      hint: 'Check --listen: [host]:port, e.g. :8000 or 127.0.0.1:8000.',
    });
  }
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
