/**
 * A loopback HTTP proxy in front of the real RGW that counts S3 operations and can answer
 * chosen requests with an S3 error (throttling, 5xx, quota) instead of forwarding them.
 * Requests pass unchanged (the Host header too, so signatures stay valid).
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

export type Op =
  | 'ListObjectsV2'
  | 'ListObjects'
  | 'GetObject'
  | 'HeadObject'
  | 'PutObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'Other';

export function classify(method: string, url: string): Op {
  const parsed = new URL(url, 'http://x');
  const query = parsed.searchParams;
  // Path-style: /bucket is the bucket, /bucket/key an object.
  const onBucket = parsed.pathname.split('/').filter(Boolean).length <= 1;
  if (method === 'GET' && query.has('list-type')) return 'ListObjectsV2';
  if (method === 'GET' && query.has('uploads')) return 'Other';
  if (method === 'GET' && onBucket) return 'ListObjects';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'PUT' && query.has('partNumber')) return 'UploadPart';
  if (method === 'PUT') return 'PutObject';
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'DELETE') return 'DeleteObject';
  return 'Other';
}

interface Fault {
  op: Op;
  /** An S3 error status, or 0: forward the request, then drop the connection instead of replying. */
  status: number;
  code: string;
  times: number;
}

export class CountingProxy {
  readonly counts: Partial<Record<Op, number>> = {};
  /** Every request: operation and path (with query). */
  readonly log: { op: Op; url: string }[] = [];
  readonly #faults: Fault[] = [];
  readonly #delays = new Map<Op, number>();
  readonly #server: Server;
  readonly #target: URL;
  port = 0;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(target: string): Promise<CountingProxy> {
    const proxy = new CountingProxy(target);
    await new Promise<void>((ok) => proxy.#server.listen(0, '127.0.0.1', ok));
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Answer the next `times` requests of `op` with an S3 error. */
  fail(op: Op, status: number, code: string, times = 1): void {
    this.#faults.push({ op, status, code, times });
  }

  /** Forward the next `times` requests of `op` to the store, then close the connection instead of replying (a lost reply). */
  dropReply(op: Op, times = 1): void {
    this.#faults.push({ op, status: 0, code: '', times });
  }

  /** Hold every reply to `op` for `ms`. */
  delay(op: Op, ms: number): void {
    this.#delays.set(op, ms);
  }

  reset(): void {
    for (const key of Object.keys(this.counts)) delete this.counts[key as Op];
    this.log.length = 0;
    this.#faults.length = 0;
    this.#delays.clear();
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((ok) => this.#server.close(() => ok()));
  }

  #handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    const op = classify(req.method ?? 'GET', req.url ?? '/');
    this.counts[op] = (this.counts[op] ?? 0) + 1;
    this.log.push({ op, url: req.url ?? '/' });
    const fault = this.#faults.find((f) => f.op === op && f.times > 0);
    if (fault && fault.status === 0) {
      fault.times--;
      const upstream = request(
        { host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers: req.headers },
        (reply) => {
          reply.resume();
          reply.once('end', () => res.destroy());
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
      return;
    }
    if (fault) {
      fault.times--;
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected</Message></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const forward = () => {
      const upstream = request(
        { host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers: req.headers },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    const wait = this.#delays.get(op);
    if (wait) setTimeout(forward, wait);
    else forward();
  }
}
