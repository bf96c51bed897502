import { open, type FileHandle } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, ConfigErrorCode } from './errors.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `10/Oct/2000:13:55:36 -0700`, in local time, as Apache and rest-server write it. */
export function clfDate(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/** A value inside double quotes: quotes, backslashes and control characters escaped. */
const quoted = (s: string) =>
  s.replace(/["\\\x00-\x1f\x7f]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));

export interface AccessLogEntry {
  host: string | undefined;
  user: string | undefined;
  time: Date;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  bytes: number;
  referer: string | undefined;
  userAgent: string | undefined;
}

/** One line of the Apache combined log format (without the newline). */
export function combinedLogLine(e: AccessLogEntry): string {
  const user = e.user ? e.user.replace(/[\s"]/g, '_') : '-';
  return (
    `${e.host || '-'} - ${user} [${clfDate(e.time)}] "${e.method} ${quoted(e.url)} HTTP/${e.httpVersion}" ` +
    `${e.status} ${e.bytes} "${quoted(e.referer ?? '')}" "${quoted(e.userAgent ?? '')}"`
  );
}

const kBytes = Symbol('pyrs.accessLog.bytes');
const kStart = Symbol('pyrs.accessLog.start');
type Counted = FastifyReply['raw'] & { [kBytes]?: number };
type Timed = FastifyRequest & { [kStart]?: Date };

/** Count the body bytes written to `res` (headers excluded, as Apache's %b). */
function countBody(res: Counted): void {
  res[kBytes] = 0;
  const write = res.write;
  const end = res.end;
  const add = (chunk: unknown, encoding: unknown) => {
    if (typeof chunk === 'string') res[kBytes]! += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) res[kBytes]! += chunk.byteLength;
  };
  res.write = function (this: Counted, chunk: unknown, ...rest: unknown[]) {
    add(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Counted['write'];
  res.end = function (this: Counted, chunk?: unknown, ...rest: unknown[]) {
    if (typeof chunk !== 'function') add(chunk, rest[0]);
    return (end as (...args: unknown[]) => Counted).call(this, chunk, ...rest);
  } as Counted['end'];
}

interface LogTarget {
  write(line: string): void;
  close(): Promise<void>;
}

/**
 * The log file, appended to line by line, in order. A failed write (disk full, I/O error)
 * drops that line and never stops the server (as rest-server, which ignores such errors);
 * `onFailure` hears of the first failure of each run of them.
 */
async function openLog(target: string, onFailure: (err: unknown) => void): Promise<LogTarget> {
  if (target === '-') return { write: (line) => void process.stdout.write(line), close: async () => {} };
  let handle: FileHandle;
  try {
    handle = await open(target, 'a', 0o644);
  } catch (err) {
    throw new ConfigError(ConfigErrorCode.OPTIONS_INVALID, `--log: cannot open ${target}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let tail = Promise.resolve();
  let failing = false;
  return {
    write(line) {
      tail = tail
        .then(() => handle.write(line))
        .then(
          () => {
            failing = false;
          },
          (err: unknown) => {
            if (!failing) onFailure(err);
            failing = true;
          },
        );
    },
    async close() {
      await tail;
      await handle.close();
    },
  };
}

/**
 * `--log FILE|-`: one Apache combined-format line per response, like rest-server's
 * (gorilla's CombinedLoggingHandler), plus the authenticated user. Registered first, so
 * requests refused by auth are logged too. The bytes are the body bytes actually sent.
 */
export async function registerAccessLog(app: FastifyInstance, options: { log?: string }): Promise<void> {
  const target = options.log;
  if (!target) return;
  // Opened when the server is ready (and closed with it), so a failed start leaks nothing.
  let log: LogTarget | undefined;
  app.addHook('onReady', async () => {
    log = await openLog(target, (err) =>
      app.log.warn({ file: target, err: (err as Error).message }, 'access log: cannot write; lines are dropped until it can'),
    );
  });

  app.addHook('onRequest', async (request, reply) => {
    (request as Timed)[kStart] = new Date();
    countBody(reply.raw);
  });
  app.addHook('onResponse', async (request, reply) => {
    const counted = (reply.raw as Counted)[kBytes];
    const header = Number(reply.getHeader('content-length'));
    log?.write(
      combinedLogLine({
        host: request.ip,
        user: request.user,
        time: (request as Timed)[kStart] ?? new Date(),
        method: request.method,
        url: request.raw.url ?? request.url,
        httpVersion: request.raw.httpVersion,
        status: reply.statusCode,
        bytes: counted ?? (Number.isFinite(header) && request.method !== 'HEAD' ? header : 0),
        referer: request.headers.referer,
        userAgent: request.headers['user-agent'],
      }) + '\n',
    );
  });
  app.addHook('onClose', async () => log?.close());
}
