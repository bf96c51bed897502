import { createServer as createTcpServer } from 'node:net';
import { pino } from 'pino';
import { HtpasswdFile } from './auth/htpasswd.js';
import type { AuthOptions } from './auth/index.js';
import { listenError, parseHostPort } from './listen.js';
import type { TlsOptions } from './server.js';
import { tlsServerOptions } from './tls.js';

/**
 * The server's own settings, checked before any backend is contacted (a remote backend's
 * login and its retries can take seconds): the htpasswd file can be read, the TLS files
 * load and match, the listen address parses and can be bound (a port is bound and released
 * at once; unix sockets and systemd's socket are left to listen()). Throws the same
 * ConfigError createServer() and listen() would.
 */
export async function checkLocalSettings(settings: { auth: AuthOptions; tls?: TlsOptions; listen: string }): Promise<void> {
  if (settings.auth.kind === 'htpasswd') {
    (await HtpasswdFile.open(settings.auth.file, { logger: pino({ level: 'silent' }) })).close();
  }
  if (settings.tls) await tlsServerOptions(settings.tls);
  const systemd = process.env.LISTEN_PID !== undefined && Number(process.env.LISTEN_PID) === process.pid;
  if (systemd || settings.listen.startsWith('unix:')) return;
  const { host, port } = parseHostPort(settings.listen);
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createTcpServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      // `:port` on a machine without IPv6 falls back to IPv4 in listen().
      if (host === '::' && err.code === 'EAFNOSUPPORT') resolve();
      else reject(listenError(settings.listen, err));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
