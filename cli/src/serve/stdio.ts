/**
 * `serve --stdio`: one HTTP/2 connection on standard input/output, for restic's `rclone:`
 * backend (started by restic itself, or by sshd as a forced command). Logs go to standard
 * error only (restic shows them prefixed `rclone:`), warnings and errors unless --debug.
 * Exit 0 when the client closes the pipe.
 *
 * SIGINT, SIGTERM or SIGHUP: restic, when it gets the same signal (one process group),
 * still removes its lock through this connection before it closes it, so the connection is
 * kept for STOP_GRACE_MS; then it is dropped. A second signal drops it at once. Uploads cut
 * off remove their temporary files before the process exits.
 */
import { constants } from 'node:os';
import { createServer, stdioTransport } from '@pyrestserver/core';
import type { ServeSettings } from './settings.js';
import type { StdioSettings } from './stdio-settings.js';
import { createLogger } from './logger.js';
import { startBackend } from './backend.js';

export const STOP_GRACE_MS = 10_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function runStdio(settings: ServeSettings, stdio: StdioSettings): Promise<number> {
  const logger = createLogger({
    debug: settings.debug,
    quietLevel: 'warn',
    secretKeys: settings.secretKeys,
    pretty: false,
    destination: process.stderr,
  });
  const { plugin } = settings.backend;
  const provider = await startBackend(settings, logger);
  const transport = stdioTransport({ repo: stdio.repo });
  let app: Awaited<ReturnType<typeof createServer>>;
  try {
    app = await createServer({
      ...settings.server,
      provider,
      logger,
      transport: transport.setup,
      ...(plugin.fastifyPlugin ? { backendPlugin: plugin.fastifyPlugin } : {}),
    });
  } catch (err) {
    await provider.close?.().catch(() => {});
    throw err;
  }
  logger.debug({ repo: stdio.repo, from: stdio.source, backend: plugin.type, appendOnly: settings.server.appendOnly }, 'serving on stdio');

  let stoppedBy: NodeJS.Signals | undefined;
  let grace: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy) {
      transport.drop();
      return;
    }
    stoppedBy = signal;
    logger.debug({ signal }, `stopping: the connection is kept ${STOP_GRACE_MS} ms for the client to finish`);
    grace = setTimeout(() => transport.drop(), STOP_GRACE_MS);
    grace.unref();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  let end: 'client' | 'dropped';
  try {
    end = await transport.serve(app);
  } finally {
    clearTimeout(grace);
    await app.close().catch(() => {});
    await provider.close?.().catch(() => {});
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  if (end === 'client') {
    logger.debug('the client closed the connection');
    return 0;
  }
  return 128 + (constants.signals[stoppedBy!] ?? 0);
}
