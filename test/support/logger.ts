import type { Logger } from '@pyrestserver/core';

export interface LogRecord {
  level: string;
  msg: string | undefined;
  [key: string]: unknown;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/**
 * A logger that keeps every record in memory (bindings of child loggers included), for
 * tests that check what is logged, and that secrets never are. Pass `logger` where core
 * takes a pino Logger; read `records`, or `text()` to search everything at once.
 */
export function captureLogger(): { logger: Logger; records: LogRecord[]; text(): string } {
  const records: LogRecord[] = [];
  const make = (bindings: Record<string, unknown>): unknown => {
    const log: Record<string, unknown> = { level: 'trace' };
    for (const level of LEVELS) {
      log[level] = (first?: unknown, second?: unknown) => {
        const [obj, msg] = typeof first === 'string' ? [{}, first] : [first ?? {}, second as string | undefined];
        records.push({ ...bindings, ...(obj as object), level, msg: msg as string | undefined });
      };
    }
    log.child = (more: Record<string, unknown>) => make({ ...bindings, ...more });
    log.isLevelEnabled = () => true;
    return log;
  };
  return {
    logger: make({}) as Logger,
    records,
    text: () => JSON.stringify(records, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v)),
  };
}
