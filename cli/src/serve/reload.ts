/**
 * SIGHUP (`systemctl reload`): never stops the server. It reloads what can be reloaded —
 * the htpasswd file (auth listens for SIGHUP itself and logs it), the TLS certificate, key
 * and client CA, and the config file's per-user and per-repository settings — and logs one
 * line saying what it did.
 */
import { loadConfigFile, reloadSettings, type createServer, type Logger, type ServerOptions } from '@pyrestserver/core';
import type { ServeSettings } from './settings.js';

export interface Reloadable {
  /** The running server; undefined while starting. */
  app?: Awaited<ReturnType<typeof createServer>>;
  /** The object the server was created with (auth and policies read it per request). */
  options?: ServerOptions;
}

/** What one SIGHUP did, as logged. */
export async function reloadOnHangup(target: Reloadable, settings: ServeSettings, logger: Logger): Promise<Record<string, string>> {
  const { app, options } = target;
  if (!app || !options) return { server: 'still starting: nothing reloaded' };
  const done: Record<string, string> = {};
  done.htpasswd = settings.server.auth.kind === 'htpasswd' ? `reloaded ${settings.server.auth.file}` : 'not used';
  if (app.reloadTls) done.tls = (await app.reloadTls()) ? 'certificate current' : 'new certificate refused, the old one kept (see the warning)';
  else done.tls = 'not used';
  if (!settings.configFile) done.config = 'no config file';
  else {
    try {
      const loaded = await loadConfigFile({ file: settings.configFile });
      const result = reloadSettings(options, { ...(loaded?.config.users ? { users: loaded.config.users } : {}), ...(loaded?.config.repos ? { repos: loaded.config.repos } : {}) });
      if (result.applied) done.config = result.changed.length ? `users/repos settings applied: ${result.changed.join(', ')}` : 'users/repos settings unchanged';
      else {
        done.config = `not applied, restart to apply: ${result.needsRestart}`;
        logger.warn({ configFile: settings.configFile, changed: result.changed }, `config file not reloaded: ${result.needsRestart}; restart to apply`);
      }
    } catch (err) {
      done.config = 'unreadable, the settings in use kept (see the warning)';
      logger.warn({ configFile: settings.configFile, err: (err as Error).message }, 'could not reload the config file; keeping the settings in use');
    }
  }
  return done;
}

/** Listen for SIGHUP for the whole life of `serve` (from before start-up). Returns the remover. */
export function listenForHangup(target: Reloadable, settings: ServeSettings, logger: Logger): () => void {
  let queue = Promise.resolve();
  const onHangup = () => {
    queue = queue.then(async () => {
      const done = await reloadOnHangup(target, settings, logger);
      logger.info(done, 'SIGHUP: reloaded');
    }).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'SIGHUP: reload failed; the server keeps running'));
  };
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
