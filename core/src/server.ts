import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback } from 'fastify';
import type { Logger } from 'pino';
import type { StorageProvider } from './storage/types.js';
import { registerProtocol } from './protocol/routes.js';
import { replyWithError } from './protocol/replies.js';
import { buildPolicies, type PolicyOptions } from './policies/index.js';
import { registerAuth, type AuthOptions } from './auth/index.js';
import { registerAccessLog } from './access-log.js';
import { registerRefusedBodyClose } from './refused-body.js';
import { tlsServerOptions } from './tls.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user name; undefined with --no-auth. Set by auth. */
    user?: string;
  }
}

export interface TlsOptions {
  /** `--tls-cert`: path of the PEM certificate (default `{path}/public_key`, resolved by the CLI). */
  cert: string;
  /** `--tls-key`: path of the PEM key (default `{path}/private_key`, resolved by the CLI). */
  key: string;
  /** `--tls-min-ver`: '1.2' or '1.3' (rest-server's form). */
  minVersion?: string;
}

export interface ServerOptions extends PolicyOptions {
  /** The active backend's provider. */
  provider: StorageProvider;
  /** A pino logger; silent when omitted. */
  logger?: Logger;
  /** SHA-256 check of every non-config upload (default true; `--no-verify-upload` sets false). */
  verifyUpload?: boolean;
  /** Authentication; `{ kind: 'none' }` is `--no-auth`. */
  auth: AuthOptions;
  /** `--prometheus`: serve /metrics. */
  prometheus?: boolean;
  /** `--prometheus-no-auth`: /metrics without authentication. */
  prometheusNoAuth?: boolean;
  /** `--log FILE|-`: Apache combined access log to a file, or `-` for stdout. */
  log?: string;
  /** `--tls`: serve HTTPS. */
  tls?: TlsOptions;
  /** The active backend plugin's own Fastify plugin, if it has one. */
  backendPlugin?: FastifyPluginAsync | FastifyPluginCallback;
}

/**
 * A connection on which nothing is received or sent for this long is closed: a client that
 * stalls mid-upload (its temporary file, file handle and quota reservation are then
 * released) or never reads a reply. Fastify's default is no limit at all. An inactivity
 * limit, not a total one, so that slow but steady uploads of large packs still finish.
 */
export const IDLE_CONNECTION_TIMEOUT_MS = 5 * 60_000;

/** A Fastify instance serving the restic REST protocol with every policy registered. */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    ...(options.tls ? { https: await tlsServerOptions(options.tls) } : {}),
    // restic's paths: a repository path, a type and a 64-char name.
    routerOptions: { maxParamLength: 1024 },
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (pino's child() is a measurable part of a small request's
    // cost); the few request log lines carry the request id themselves (replies.ts).
    childLoggerFactory: (logger) => logger,
    // Undecodable URLs and the like: the same short plain-text replies as the protocol routes.
    frameworkErrors: replyWithError,
    // Keep-alive connections from restic are long-lived; close idle ones on shutdown.
    forceCloseConnections: 'idle',
    connectionTimeout: IDLE_CONNECTION_TIMEOUT_MS,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;

  await registerAccessLog(app, options);
  registerRefusedBodyClose(app);
  await registerAuth(app, options);
  const policies = await buildPolicies(options);
  // prom-client and the metrics code load only for --prometheus.
  const metricsPolicies = options.prometheus ? await (await import('./metrics.js')).registerMetrics(app, options, policies) : [];
  if (options.backendPlugin) await app.register(options.backendPlugin);
  await app.register(registerProtocol, {
    provider: options.provider,
    policies: [...policies, ...metricsPolicies],
    verifyUpload: options.verifyUpload !== false,
  });
  return app;
}
