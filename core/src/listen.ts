import { lstat, unlink } from 'node:fs/promises';
import { connect, type AddressInfo, type ListenOptions } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { ConfigError, ConfigErrorCode } from './errors.js';

/** The first file descriptor systemd passes (SD_LISTEN_FDS_START). */
const SD_LISTEN_FDS_START = 3;

/**
 * How many sockets systemd passed to this process (socket activation), 0 when none.
 * The variables are removed so that child processes do not take them as theirs.
 */
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return 0;
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return Number.isInteger(count) && count > 0 ? count : 0;
}

/**
 * Serve on the socket systemd passed as fd 3. Node's server.listen() takes it directly;
 * Fastify's listen() cannot (it reads the address of what it bound, and a passed unix
 * socket has none), so the app is made ready and its server listens itself. Closing
 * the app closes the server as usual.
 */
async function listenOnSystemdSocket(app: FastifyInstance): Promise<string> {
  await serverListen(app, { fd: SD_LISTEN_FDS_START }).catch((err: unknown) =>
    Promise.reject(listenError('the socket passed by systemd', err)),
  );
  const address = app.server.address();
  const where =
    address === null || typeof address === 'string'
      ? 'a unix socket'
      : `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  return `${where} (systemd socket activation, fd ${SD_LISTEN_FDS_START})`;
}

/**
 * Make the app ready and let its server listen itself, rather than through Fastify's
 * listen(), which logs a line of its own for every address: the CLI logs one line with
 * the address and the settings. Closing the app closes the server as usual.
 */
async function serverListen(app: FastifyInstance, options: ListenOptions | { fd: number }): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen(options, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}

/** `http://host:port` (`[v6]` in brackets) of a listening TCP server. */
function urlOf(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${app.server instanceof TlsServer ? 'https' : 'http'}://${host}:${address.port}`;
}

/** True when a server accepts connections on the unix socket at `path`. */
const socketAnswers = (path: string) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Make room for a unix socket at `path`: a socket file left by a server that died
 * is removed; a live socket or any other file is an error (never deleted).
 */
async function clearStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new ConfigError(ConfigErrorCode.LISTEN, `cannot listen on unix:${path}: the path exists and is not a socket`);
  }
  if (await socketAnswers(path)) {
    throw new ConfigError(ConfigErrorCode.LISTEN, `cannot listen on unix:${path}: another server is listening there`);
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** `:8000`, `host:8000`, `[::1]:8000` -> host and port; `:port` means every interface. */
export function parseHostPort(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(
      ConfigErrorCode.LISTEN,
      `--listen: expected [host]:port, [ipv6]:port or unix:/path, got ${JSON.stringify(spec)}`,
    );
  }
  return { host: m[1] ?? (m[2] || '::'), port };
}

export function listenError(where: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === 'EADDRINUSE' ? 'the address is already in use'
    : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
    : code === 'EADDRNOTAVAIL' ? 'no such local address'
    : (err as Error).message;
  return new ConfigError(ConfigErrorCode.LISTEN, `cannot listen on ${where}: ${reason}`, { cause: err });
}

/**
 * Listen the way rest-server's `--listen` does: `:8000` (all interfaces), `host:port`,
 * `[v6]:port`, or `unix:/path` (a stale socket file is replaced; Node removes the file
 * when the server closes). Under systemd socket activation (LISTEN_PID/LISTEN_FDS) the
 * passed socket is used instead and `spec` is ignored, as rest-server does.
 * Returns the address to show users.
 */
export async function listen(app: FastifyInstance, spec: string): Promise<string> {
  const fds = systemdListenFds();
  if (fds > 1) {
    throw new ConfigError(ConfigErrorCode.LISTEN, `systemd passed ${fds} sockets; expected one`);
  }
  if (fds === 1) return listenOnSystemdSocket(app);

  if (spec.startsWith('unix:')) {
    const path = spec.slice('unix:'.length);
    if (!path) throw new ConfigError(ConfigErrorCode.LISTEN, '--listen unix: needs a path, e.g. unix:/run/rest-server.sock');
    await clearStaleSocket(path);
    await serverListen(app, { path }).catch((err: unknown) => Promise.reject(listenError(spec, err)));
    return `unix:${path}`;
  }

  const { host, port } = parseHostPort(spec);
  try {
    await serverListen(app, { host, port });
    return urlOf(app);
  } catch (err) {
    // `:port` on a machine without IPv6: all IPv4 interfaces instead.
    if (host === '::' && (err as NodeJS.ErrnoException).code === 'EAFNOSUPPORT') {
      await serverListen(app, { host: '0.0.0.0', port }).catch((e: unknown) => Promise.reject(listenError(spec, e)));
      return urlOf(app);
    }
    throw listenError(spec, err);
  }
}
