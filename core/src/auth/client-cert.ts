import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** Who sent a request: a user name, `null` for nobody (401), `undefined` with --no-auth. */
export type Authenticate = (request: FastifyRequest) => Promise<string | null | undefined>;

/**
 * The CN of the client certificate the TLS handshake verified against `--tls-client-ca`;
 * undefined when there is none (or it has no single CN).
 */
export function clientCertUser(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/**
 * `--tls-client-ca`: the client certificate's CN is the user. Alone (--no-auth) it is the
 * only factor; with htpasswd (or a proxy's header) as a second factor, that user must be the
 * certificate's as well, so a password cannot be used with someone else's certificate.
 */
export function withClientCert(authenticate: Authenticate): Authenticate {
  return async (request) => {
    const cn = clientCertUser(request);
    if (cn === undefined) return null;
    const user = await authenticate(request);
    if (user === undefined) return cn;
    return user === cn ? cn : null;
  };
}
