import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PolicyOptions } from '../policies/index.js';
import { ownsPath } from '../policies/private-repos.js';
import { privateReposFor } from '../policies/settings.js';
import { parseBasicAuth } from './basic.js';
import { HtpasswdFile } from './htpasswd.js';
import { withClientCert, type Authenticate } from './client-cert.js';
import { LoginGuard, LoginThrottled, type LoginGuardOptions } from './login-guard.js';

export type AuthOptions =
  | { kind: 'none' }
  | {
      kind: 'htpasswd';
      file: string;
      /** Bounds on password checks and the per-address failure penalty (login-guard.ts); defaults are the product's. */
      limits?: Partial<LoginGuardOptions>;
    }
  | { kind: 'proxy'; header: string };

declare module 'fastify' {
  interface FastifyInstance {
    /** Read the htpasswd file again (what SIGHUP does); false when it could not be read. */
    reloadAuth(): Promise<boolean>;
  }
}

export interface AuthServerOptions extends PolicyOptions {
  auth: AuthOptions;
  prometheus?: boolean;
  prometheusNoAuth?: boolean;
  /** With `clientCa` (--tls-client-ca), the client certificate's CN is the user (client-cert.ts). */
  tls?: { clientCa?: string };
}

/** The path /metrics is served at (metrics.ts). */
export const METRICS_PATH = '/metrics';
const pathOf = (url: string) => url.split('?', 1)[0]!;

/**
 * Authentication as the first onRequest hook (before any body is read): Basic auth
 * against an htpasswd file, or a trusted proxy's header, or nothing (--no-auth).
 * Sets `request.user`, then enforces private repositories on the URL. Failure is 401, as
 * in rest-server, plus `WWW-Authenticate: Basic realm="restic"` (which rest-server omits).
 * The htpasswd file is reloaded when it changes and on SIGHUP.
 */
export async function registerAuth(app: FastifyInstance, options: AuthServerOptions): Promise<void> {
  const byAuth = await authenticator(app, options.auth);
  const authenticate = options.tls?.clientCa !== undefined ? withClientCert(byAuth) : byAuth;
  if (!app.hasRequestDecorator('user')) app.decorateRequest('user', undefined);
  const metricsOpen = options.prometheus === true && options.prometheusNoAuth === true;
  // --no-auth: nobody to authenticate and no private repositories to enforce (they need a
  // user): no hook at all, so requests do not pay for one. A client certificate is a user.
  if (options.auth.kind === 'none' && options.tls?.clientCa === undefined) return;

  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request.url);
    if (metricsOpen && path === METRICS_PATH) return;
    let user: string | null | undefined;
    try {
      user = await authenticate(request);
    } catch (err) {
      if (!(err instanceof LoginThrottled)) throw err;
      request.log.info({ address: request.ip, reason: err.message }, 'login refused: too many attempts');
      return reply
        .code(429)
        .header('retry-after', String(err.retryAfter))
        .type('text/plain; charset=utf-8')
        .send('Too Many Requests\n');
    }
    if (user === null) return unauthorized(reply, options.auth.kind === 'htpasswd');
    request.user = user;
    // /metrics has its own rule (metrics.ts); everything else is a repository path.
    if (options.prometheus && path === METRICS_PATH) return;
    if (user !== undefined && privateReposFor(options, user) && !ownsPath(user, path)) {
      return unauthorized(reply, false);
    }
  });
}

async function authenticator(app: FastifyInstance, auth: AuthOptions): Promise<Authenticate> {
  switch (auth.kind) {
    case 'none':
      app.decorate('reloadAuth', async () => true);
      return async () => undefined;
    case 'proxy': {
      const header = auth.header.toLowerCase();
      app.decorate('reloadAuth', async () => true);
      return async (request) => {
        const value = request.headers[header];
        const user = (Array.isArray(value) ? value[0] : value)?.trim();
        return user ? user : null;
      };
    }
    case 'htpasswd': {
      const guard = new LoginGuard(auth.limits);
      const file = await HtpasswdFile.open(auth.file, { logger: app.log, limit: (check) => guard.run(check) });
      app.log.info({ file: file.path, users: file.userCount }, 'loaded htpasswd file');
      // Watch and listen for SIGHUP only once the server is ready, so that a server
      // whose creation fails later leaves nothing behind.
      const onHangup = () => void file.reload();
      app.addHook('onReady', async () => {
        file.watch();
        process.on('SIGHUP', onHangup);
      });
      app.addHook('onClose', async () => {
        process.off('SIGHUP', onHangup);
        file.close();
      });
      app.decorate('reloadAuth', () => file.reload());
      return async (request) => {
        const credentials = parseBasicAuth(request.headers.authorization);
        if (!credentials) return null;
        const { user, password } = credentials;
        // Users who logged in are let through before any limit: a flood cannot slow them.
        if (file.cached(user, password)) return user;
        // Keyed by request.ip, which is the client's address behind a trusted proxy.
        guard.admit(request.ip);
        if (await file.check(user, password)) return user;
        guard.failed(request.ip);
        return null;
      };
    }
  }
}

/** 401 as rest-server sends it; the Basic challenge only where Basic auth is what works. */
export function unauthorized(reply: FastifyReply, challenge: boolean): FastifyReply {
  if (challenge) reply.header('WWW-Authenticate', 'Basic realm="restic"');
  return reply.code(401).type('text/plain; charset=utf-8').send('Unauthorized\n');
}
