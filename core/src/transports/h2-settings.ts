import type { Http2Session, SecureServerOptions, ServerOptions } from 'node:http2';

/**
 * Flow-control windows for HTTP/2. Node's defaults (64 KiB per stream and per connection)
 * make a client wait for a WINDOW_UPDATE every 64 KiB of an upload; restic sends packs of
 * ~16 MiB on up to 5 streams. Larger windows let it send on; the session memory cap
 * (Node's default is 10 MB, beyond which new streams are refused) leaves room for them.
 */
const STREAM_WINDOW = 1024 * 1024;
const SESSION_WINDOW = 8 * 1024 * 1024;

export const H2_SERVER_OPTIONS: ServerOptions & SecureServerOptions = {
  settings: { initialWindowSize: STREAM_WINDOW },
  maxSessionMemory: 64,
};

/** Widen the connection's receive window once the session is set up. */
export function widenSessionWindow(session: Http2Session): void {
  const apply = () => {
    try {
      session.setLocalWindowSize(SESSION_WINDOW);
    } catch {
      // the session closed before it was set up: nothing to widen
    }
  };
  if (session.connecting) session.once('connect', apply);
  else apply();
}
