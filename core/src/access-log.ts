import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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

/** A request target as logged: the userinfo of an absolute-form target (`http://user:pw@host/`) removed. */
export function loggedTarget(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
}

const kBytes = Symbol('pyrs.accessLog.bytes');
type Counted = ServerResponse & { [kBytes]?: number };

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
 * (gorilla's CombinedLoggingHandler), plus the authenticated user. Lines are written from the
 * HTTP server itself, not from Fastify's hooks, so every reply has one: those refused before
 * any hook runs (an undecodable URL), refused by auth, and those whose client hung up (their
 * status as it stood). The bytes are the body bytes actually sent (0 for HEAD); the target's
 * userinfo (`http://user:pw@host/...`) is never written.
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

  /** The Fastify request of each raw request that reached the hooks: its client address and user. */
  const requests = new WeakMap<IncomingMessage, FastifyRequest>();
  app.addHook('onRequest', async (request) => {
    requests.set(request.raw, request);
  });
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const time = new Date();
    countBody(res);
    let done = false;
    const line = () => {
      if (done) return;
      done = true;
      const request = requests.get(req);
      log?.write(
        combinedLogLine({
          host: request?.ip ?? req.socket.remoteAddress,
          user: request?.user,
          time,
          method: req.method ?? '-',
          url: loggedTarget(req.url ?? '-'),
          httpVersion: req.httpVersion,
          status: res.statusCode,
          bytes: req.method === 'HEAD' ? 0 : ((res as Counted)[kBytes] ?? 0),
          referer: req.headers.referer,
          userAgent: req.headers['user-agent'],
        }) + '\n',
      );
    };
    res.once('finish', line);
    res.once('close', line);
  };
  // Before Fastify's own listener, so the byte counter is in place before anything is written.
  app.server.prependListener('request', onRequest);
  app.addHook('onClose', async () => {
    app.server.off('request', onRequest);
    const closing = log;
    log = undefined;
    await closing?.close();
  });
}
