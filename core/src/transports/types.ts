import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * How a transport shapes the Fastify instance it serves: HTTP/2 or not, its own server
 * object, a URL rewrite. The protocol routes never see which transport carries a request.
 */
export interface TransportSetup {
  /**
   * The server object Fastify hands its request handler to (Fastify's `serverFactory`; the
   * second argument is Fastify's options, `https` included). It must have
   * `closeIdleConnections()` (graceful shutdown calls it).
   */
  serverFactory?: (handler: (req: never, res: never) => void, options?: unknown) => unknown;
  /** Rewrite each request's URL before routing (Fastify's `rewriteUrl`). */
  rewriteUrl?: (req: IncomingMessage | Http2ServerRequest) => string;
}
