import type { TransportSetup } from './types.js';

export type { TransportSetup } from './types.js';
export { h2ListenerTransport } from './h2-listener.js';
export { parseRepositoryPath } from './repo-path.js';
export { stdioTransport, confineUrl, type StdioTransport, type StdioTransportOptions } from './stdio.js';

/** The Fastify options a transport adds: its `serverFactory` and `rewriteUrl`. */
export function transportFastifyOptions(setup: TransportSetup | undefined): Record<string, unknown> {
  return {
    ...(setup?.serverFactory ? { serverFactory: setup.serverFactory } : {}),
    ...(setup?.rewriteUrl ? { rewriteUrl: setup.rewriteUrl } : {}),
  };
}
