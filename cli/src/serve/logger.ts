/**
 * The server's logger: pino JSON lines, or pino-pretty when stdout is a terminal.
 * Secrets never reach the output: Authorization headers and every option the backend marks
 * `x-secret` are redacted wherever they appear in a log object.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export interface LoggerOptions {
  debug: boolean;
  /** Option names to redact (the backend's `x-secret` options: snake_case, checked at plugin load). */
  secretKeys: readonly string[];
  /** Human-readable output; default: when stdout is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const keys = [...new Set(['authorization', 'password', ...options.secretKeys])];
  const paths = [
    'req.headers.authorization',
    'headers.authorization',
    ...keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  ];
  const base = { level: options.debug ? 'debug' : 'info', redact: { paths, censor: '[secret]' } };
  const usePretty = options.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    // Loaded only for a terminal: it is a large share of start-up otherwise.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ colorize: true, sync: true, destination: 1 }));
  }
  if (!options.destination) keepServingWithoutStdout();
  return pino(base, (options.destination ?? process.stdout) as pino.DestinationStream);
}

const dropLine = (): void => {};

/**
 * When whoever reads standard output goes away (journald restarted, the end of a pipe
 * closed), writes to it fail with EPIPE. Unhandled, that error would stop the server with
 * its uploads in flight; handled, only the log lines are lost (there is nowhere to report it).
 */
function keepServingWithoutStdout(): void {
  if (!process.stdout.listeners('error').includes(dropLine)) process.stdout.on('error', dropLine);
}
