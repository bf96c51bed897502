import http from 'node:http';
import net from 'node:net';
import type { Readable } from 'node:stream';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  /** A buffer, string or stream; a stream needs an explicit Content-Length header. */
  body?: Buffer | string | Readable;
  agent?: http.Agent;
}

/**
 * One HTTP request with the path sent exactly as given (fetch would normalise `..`),
 * the whole reply body collected. For hostile paths with bytes http refuses (NUL,
 * spaces), use `rawRequest`.
 */
export function request(base: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/**
 * Send `head` (request line and headers, CRLF-separated, without the final blank line)
 * over a raw socket with `Connection: close` and return the status code and the raw reply.
 */
export function rawRequest(port: number, head: string): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      if (!m) reject(new Error(`no HTTP reply: ${JSON.stringify(raw.slice(0, 200))}`));
      else resolve({ status: Number(m[1]), raw });
    });
    socket.write(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}
