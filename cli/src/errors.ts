import { ConfigError, ConfigErrorCode } from '@pyrestserver/core';

/** A wrong command line: exit code 2. */
export const usageError = (message: string, hint = 'See `pyrestserver --help`.') =>
  new ConfigError(ConfigErrorCode.USAGE, message, { hint });

interface ErrorLike {
  name?: string;
  message?: string;
  code?: unknown;
  hint?: string;
  stack?: string;
}

/** The code an error is shown with; cac's own errors (unknown option, missing value) are usage errors. */
const codeOf = (e: ErrorLike) => (e.name === 'CACError' ? ConfigErrorCode.USAGE : typeof e.code === 'string' ? e.code : undefined);

/**
 * The lines that show an error to a person: `pyrestserver: error [CODE]: message`, then the
 * hint, then (with PYRESTSERVER_DEBUG set) the stack. `context` goes before the message.
 */
export function formatError(err: unknown, { level = 'error', context }: { level?: 'error' | 'warning'; context?: string } = {}): string[] {
  const e = (err ?? {}) as ErrorLike;
  const code = codeOf(e);
  const lines = [`pyrestserver: ${level}${code ? ` [${code}]` : ''}: ${context ? `${context}: ` : ''}${e.message ?? String(err)}`];
  if (e.hint) lines.push(e.hint);
  else if (e.name === 'CACError') lines.push('See `pyrestserver --help`.');
  if (process.env.PYRESTSERVER_DEBUG && e.stack) lines.push(e.stack);
  return lines;
}

/** Print an error to stderr and return the exit code: 2 for a wrong command line, 1 for anything else. */
export function reportError(err: unknown): number {
  for (const line of formatError(err)) console.error(line);
  return codeOf((err ?? {}) as ErrorLike) === ConfigErrorCode.USAGE ? 2 : 1;
}
