import type { TransportSetup } from './types.js';
import { H2_SERVER_OPTIONS } from './h2-settings.js';

export type { TransportSetup } from './types.js';
export { parseRepositoryPath } from './repo-path.js';
export { stdioTransport, confineUrl, type StdioTransport, type StdioTransportOptions } from './stdio.js';

/**
 * The Fastify options a transport adds (overriding the defaults, so spread them last):
 * `http2`, `serverFactory`, `rewriteUrl`, and for
 * HTTP/2 over TLS the `https` options with h2's settings (and `allowHTTP1`, so ALPN offers
 * both `h2` and `http/1.1`).
 */
export function transportFastifyOptions(setup: TransportSetup | undefined, https: object | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (https) out.https = setup?.http2 ? { ...H2_SERVER_OPTIONS, ...https, allowHTTP1: setup.allowHTTP1 === true } : https;
  if (!setup) return out;
  if (setup.http2) {
    out.http2 = true;
    // 'idle' needs HTTP/1's closeIdleConnections(). A server of our own closes its
    // connection itself; Fastify's HTTP/2 server sends GOAWAY to each session on close.
    out.forceCloseConnections = setup.serverFactory === undefined;
  }
  if (setup.serverFactory) out.serverFactory = setup.serverFactory;
  if (setup.rewriteUrl) out.rewriteUrl = setup.rewriteUrl;
  return out;
}
