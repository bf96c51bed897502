/**
 * The stdio transport: one HTTP/2 connection (prior knowledge, no TLS) carried over the
 * process's standard input and output, the way restic's `rclone:` backend talks to the
 * program it starts (`rclone serve restic --stdio`). The client's `/` is mapped to one
 * repository (`repo`), so every request path is confined below it; the protocol routes
 * see ordinary requests for `/{repo}/...`.
 *
 * Nothing else may write to standard output: a stray byte breaks the HTTP/2 framing.
 */
import { createServer, type Http2Server, type Http2Session } from 'node:http2';
import { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { TransportSetup } from './types.js';
import { H2_SERVER_OPTIONS, widenSessionWindow } from './h2-settings.js';
import { encodeRepositoryPath } from './repo-path.js';
import { addCloseIdleConnections } from './h2-listener.js';

export interface StdioTransportOptions {
  /** The repository the client's `/` is (`alice/laptop`; '' for the root), checked with parseRepositoryPath. */
  repo: string;
  /** Default process.stdin. */
  input?: NodeJS.ReadableStream & { destroy?(): void };
  /** Default process.stdout. */
  output?: NodeJS.WritableStream;
}

export interface StdioTransport {
  /** Spread into the server options: HTTP/2, our own server object, the URL rewrite. */
  readonly setup: TransportSetup;
  /** Serve the one connection; resolves when it has closed: by the client, or by drop(). */
  serve(app: FastifyInstance): Promise<'client' | 'dropped'>;
  /**
   * Drop the connection now. Requests cut off clean up after themselves (an upload's
   * temporary file is removed). No GOAWAY first: restic could not open a second connection
   * anyway, and one it has not yet closed is still useful to it (removing its lock).
   */
  drop(): void;
}

/** `/config` -> `/alice/laptop/config`: the client can name nothing outside `repo`. */
export function confineUrl(repo: string, url: string | undefined): string {
  const path = url === undefined || url === '' ? '/' : url.startsWith('/') ? url : `/${url}`;
  return repo === '' ? path : `/${encodeRepositoryPath(repo)}${path}`;
}

export function stdioTransport(options: StdioTransportOptions): StdioTransport {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  let session: Http2Session | undefined;
  let dropped = false;

  return {
    setup: {
      // No session timeout: restic keeps its one connection for the whole command and may
      // be quiet for minutes (scanning unchanged files); a closed pipe cannot be reopened.
      serverFactory: (handler) => {
        const server = createServer(H2_SERVER_OPTIONS, handler as never);
        addCloseIdleConnections(server);
        return server;
      },
      rewriteUrl: (req) => confineUrl(options.repo, req.url),
    },

    async serve(app) {
      await app.ready();
      const server = app.server as unknown as Http2Server;
      const pipe = Duplex.from({ readable: input, writable: output });
      // A write after the client went away (EPIPE) ends the connection, nothing more.
      pipe.on('error', () => pipe.destroy());
      await new Promise<void>((resolve) => {
        server.once('session', (s: Http2Session) => {
          session = s;
          widenSessionWindow(s);
          s.on('error', () => {});
          s.once('close', () => resolve());
          if (dropped) s.destroy();
        });
        server.emit('connection', pipe);
      });
      input.destroy?.();
      return dropped ? 'dropped' : 'client';
    },

    drop() {
      dropped = true;
      session?.destroy();
    },
  };
}
