import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * How a transport shapes the Fastify instance it serves: HTTP/2 or not, its own server
 * object, a URL rewrite. The protocol routes never see which transport carries a request.
 */
export interface TransportSetup {
  /** Serve HTTP/2 (Fastify's `http2`). */
  http2?: boolean;
  /** With `http2` and `tls`: also answer HTTP/1.1 clients that do not negotiate h2 (ALPN). */
  allowHTTP1?: boolean;
  /** The server object Fastify hands its request handler to (Fastify's `serverFactory`). */
  serverFactory?: (handler: (req: never, res: never) => void) => unknown;
  /** Rewrite each request's URL before routing (Fastify's `rewriteUrl`). */
  rewriteUrl?: (req: IncomingMessage | Http2ServerRequest) => string;
}
