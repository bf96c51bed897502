/**
 * HTTP/2 on the network listener. With TLS, ALPN offers `h2` and `http/1.1` (a client
 * that does not ask for h2 gets HTTP/1.1, as from rest-server). Without TLS (`--h2c`), a
 * connection that opens with HTTP/2's preface is h2c with prior knowledge, anything else
 * is HTTP/1.1 on the same port.
 *
 * The server object gets `closeIdleConnections()`, which graceful shutdown (and Fastify's
 * `forceCloseConnections: 'idle'`) calls: HTTP/2 sessions get GOAWAY (requests in flight
 * finish), HTTP/1.1 connections are closed once no request is in flight on them.
 */
import { createServer as createHttp1Server, type Server as Http1Server } from 'node:http';
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TransportSetup } from './types.js';
import { H2_SERVER_OPTIONS, widenSessionWindow } from './h2-settings.js';

/** What every HTTP/2 connection with prior knowledge starts with (RFC 9113, 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

type AnyH2Server = Http2Server | Http2SecureServer;

interface FactoryOptions {
  https?: object | null;
  connectionTimeout?: number;
}

export function h2ListenerTransport(): TransportSetup {
  return {
    serverFactory: (handler, opts) => {
      const { https, connectionTimeout } = (opts ?? {}) as FactoryOptions;
      let server: AnyH2Server;
      let http1: Http1Server | undefined;
      if (https) {
        server = createSecureServer({ ...H2_SERVER_OPTIONS, allowHTTP1: true, ...https }, handler as never);
      } else {
        server = createServer(H2_SERVER_OPTIONS, handler as never);
        // Node's plain HTTP/2 server has no working HTTP/1 fallback on every version (Node 24
        // sets its HTTP/1 options up for TLS servers only): HTTP/1.1 connections go to an
        // HTTP/1 server of their own that never listens, with the same handler.
        // The same HTTP/1 timeouts as Fastify gives the plain listener: long keep-alive for
        // restic's connections, no cap on a whole request (a large upload on a slow link).
        // (Set after construction, as Fastify does: in the constructor a 0 would also zero the
        // headers timeout, which guards against clients that never finish their headers.)
        http1 = createHttp1Server({ keepAliveTimeout: 72_000 }, handler as never);
        http1.requestTimeout = 0;
        http1.on('clientError', (err, socket) => server.emit('clientError', err, socket));
        // Its header and request timeouts are checked from 'listening' until 'close'.
        server.once('listening', () => http1?.emit('listening'));
        server.once('close', () => http1?.close());
        splitByPreface(server as Http2Server, http1);
      }
      if (connectionTimeout) {
        server.setTimeout(connectionTimeout);
        http1?.setTimeout(connectionTimeout);
      }
      server.on('session', widenSessionWindow);
      addCloseIdleConnections(server, http1);
      return server;
    },
  };
}

/** Plain listener: HTTP/2's preface -> an h2c session; anything else -> HTTP/1.1. */
function splitByPreface(server: Http2Server, http1: Http1Server): void {
  const dispatch = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const h2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2 && head.length < PREFACE.length) return; // too short to tell yet
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (h2) {
        // The HTTP/2 session reads what is buffered before it reads the socket.
        socket.pause();
        socket.unshift(head);
        for (const listener of dispatch) listener.call(server, socket);
        return;
      }
      // The HTTP/1 parser then reads the socket natively, so the bytes already read are
      // handed to it as a 'data' event, in the same tick (nothing can come between).
      http1.emit('connection', socket);
      socket.emit('data', head);
    };
    const onEnd = () => socket.destroy();
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}

/** `closeIdleConnections()` for an HTTP/2 server that also speaks HTTP/1.1. */
export function addCloseIdleConnections(server: AnyH2Server, http1?: Http1Server): void {
  const sessions = new Set<Http2Session>();
  const inFlight = new Map<Socket, number>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const onRequest = (req: { httpVersionMajor: number; socket: Socket }, res: NodeJS.EventEmitter) => {
    if (req.httpVersionMajor !== 1) return;
    const socket = req.socket;
    if (!inFlight.has(socket)) socket.once('close', () => inFlight.delete(socket));
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => inFlight.set(socket, Math.max(0, (inFlight.get(socket) ?? 1) - 1)));
  };
  server.on('request', onRequest);
  http1?.on('request', onRequest);
  Object.assign(server, {
    closeIdleConnections(): void {
      for (const session of sessions) if (!session.closed) session.close();
      for (const [socket, count] of inFlight) if (count === 0) socket.destroy();
    },
  });
}
