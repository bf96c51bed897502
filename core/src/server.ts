import { createRequire } from 'node:module';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback } from 'fastify';
import type { Logger } from 'pino';
import type { StorageProvider } from './storage/types.js';
import { registerProtocol } from './protocol/routes.js';
import { replyWithError } from './protocol/replies.js';
import { buildPolicies, type PolicyOptions } from './policies/index.js';
import { registerAuth, type AuthOptions } from './auth/index.js';
import { registerAccessLog } from './access-log.js';
import { registerTlsReload, tlsServerOptions } from './tls.js';
import { registerForwarded, trustedProxies } from './trusted-proxy.js';
import { transportFastifyOptions, type TransportSetup } from './transports/index.js';
import { registerRefusedBodyClose } from './refused-body.js';

/** Fastify's default schema compilers, required from Fastify's own dependencies on first use. */
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
type CompilerFactory = (...args: unknown[]) => unknown;
const lazyFactory = (module: string): CompilerFactory => {
  let factory: CompilerFactory | undefined;
  return (...args) => (factory ??= (fromFastify(module) as () => CompilerFactory)())(...args);
};
const LAZY_COMPILERS = {
  buildValidator: lazyFactory('@fastify/ajv-compiler'),
  buildSerializer: lazyFactory('@fastify/fast-json-stringify-compiler'),
};

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user name; undefined with --no-auth. Set by auth. */
    user?: string;
  }
  interface FastifyInstance {
    /**
     * Read the TLS certificate, key and client CA again and serve new connections with them
     * (what SIGHUP and a change of the files do; tls.ts). A broken or mismatched set keeps the
     * one in use and is logged. True when the new set is in use (or nothing changed); absent without TLS.
     */
    reloadTls?(): Promise<boolean>;
  }
}

export interface TlsOptions {
  /** `--tls-cert`: path of the PEM certificate (default `{path}/public_key`, resolved by the CLI). */
  cert: string;
  /** `--tls-key`: path of the PEM key (default `{path}/private_key`, resolved by the CLI). */
  key: string;
  /** `--tls-min-ver`: '1.2' or '1.3' (rest-server's form). */
  minVersion?: string;
  /** `--tls-client-ca`: PEM file of the CA that signs client certificates; clients must present one, its CN is the user. */
  clientCa?: string;
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
  /** `--trusted-proxy`: addresses and CIDR networks whose X-Forwarded-For / Forwarded give `request.ip`. */
  trustedProxies?: readonly string[];
  /** The active backend plugin's own Fastify plugin, if it has one. */
  backendPlugin?: FastifyPluginAsync | FastifyPluginCallback;
  /** How requests arrive (HTTP/2, stdio); plain HTTP/1.1 listeners when omitted. */
  transport?: TransportSetup;
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
  const https = options.tls ? await tlsServerOptions(options.tls) : undefined;
  const trusted = options.trustedProxies?.length ? trustedProxies(options.trustedProxies) : undefined;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    ...(https ? { https } : {}),
    ...(trusted ? { trustProxy: trusted } : {}),
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
    // Our routes have no JSON schemas: Fastify's validator and serializer compilers (Ajv with
    // its formats, fast-json-stringify) load only if a route ever brings one (start-up time).
    schemaController: { compilersFactory: LAZY_COMPILERS as never },
    ...transportFastifyOptions(options.transport),
  }) as unknown as FastifyInstance;

  // Our listen() lets the server listen itself (listen.ts), so Fastify does not count it as
  // listening, and with a serverFactory (HTTP/2 listeners) its close() would then neither
  // close idle connections nor the server: the process would never exit. Do both here.
  if (options.transport?.serverFactory) {
    app.addHook('preClose', (done) => {
      const server = app.server as typeof app.server & { closeIdleConnections?: () => void };
      if (!server.listening) return done();
      server.closeIdleConnections?.();
      server.close(() => {});
      done();
    });
  }

  if (trusted) registerForwarded(app, trusted);
  if (options.tls && https) registerTlsReload(app, options.tls, https);
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
