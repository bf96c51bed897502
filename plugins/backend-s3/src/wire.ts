/**
 * The provider's hot requests (HEAD, GET, PUT, DELETE, ListObjectsV2), signed here (signer.ts)
 * and sent with node:http over keep-alive connections: about 0.2 ms of CPU per request
 * against 1.1-1.9 ms through the AWS SDK's client (same RGW, same run; bench notes in
 * docs/benchmarks.md). The SDK stays for the credential chain, multipart uploads and the
 * start-up check. Failures are shaped like the SDK's (`name`, `$metadata.httpStatusCode`,
 * `$metadata.attempts`), so errors.ts maps both alike; requests whose body can be sent again
 * are retried with backoff after throttling, 5xx and dropped connections.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { paceCollections } from '@pyrestserver/core';
import { NETWORK } from './errors.js';
import { parseError, parseListPage, type ListPage } from './list-xml.js';
import { canonicalQuery, EMPTY_SHA256, encodeKey, UNSIGNED_PAYLOAD, type Signer } from './signer.js';

export interface WireOptions {
  readonly endpoint: string;
  readonly bucket: string;
  readonly pathStyle: boolean;
  readonly maxConnections: number;
  readonly connectTimeout: number;
  readonly requestTimeout: number;
  readonly maxRetries: number;
}

export interface WireRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** The object key; undefined for the bucket itself (listings). */
  readonly key?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** A Buffer is sent again on a retry; a stream is sent once (never retried). */
  readonly body?: Buffer | Readable;
  readonly length?: number;
  readonly signal?: AbortSignal;
}

/** A failure shaped like the SDK's, for errors.ts. */
export class S3WireError extends Error {
  readonly $metadata: { httpStatusCode?: number; attempts: number };
  readonly code?: string;
  constructor(name: string, message: string, status: number | undefined, attempts: number, code?: string) {
    super(message);
    this.name = name;
    this.$metadata = { ...(status !== undefined ? { httpStatusCode: status } : {}), attempts };
    if (code !== undefined) this.code = code;
  }
}

/** Sockets whose reads are reported to core's collection pacing (once each: they are kept alive). */
const paced = new WeakSet<object>();

const RETRIED_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'TimeoutError']);
/** S3 error replies are small; more is not read. */
const ERROR_BODY_LIMIT = 64 * 1024;

function retryable(err: unknown): boolean {
  const e = err as S3WireError & { code?: string };
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || RETRIED_NAMES.has(e.name);
  return NETWORK.has(e.code ?? '') || e.name === 'TimeoutError';
}

/** Full jitter over an exponential base (the SDK's standard mode): 100 ms, 200, 400, ... at most 20 s. */
const backoff = (attempt: number) => Math.random() * Math.min(20_000, 100 * 2 ** (attempt - 1));

async function readText(res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The reply read to its end. (`complete` is not enough: the connection goes back to the pool only on 'end', which needs the body read.) */
function drained(res: IncomingMessage): Promise<void> {
  if (res.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    res.once('end', resolve);
    res.once('error', reject);
    res.resume();
  });
}

export class S3Wire {
  readonly #options: WireOptions;
  readonly #signer: Signer;
  readonly #https: boolean;
  readonly #agent: HttpAgent;
  readonly #host: string;
  readonly #hostname: string;
  readonly #port: number;
  /** The path before the key: the endpoint's own path, then `/bucket` in path style. */
  readonly #base: string;

  constructor(options: WireOptions, signer: Signer) {
    this.#options = options;
    this.#signer = signer;
    const url = new URL(options.endpoint);
    this.#https = url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.maxConnections, scheduling: 'lifo' as const };
    this.#agent = this.#https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    const root = url.pathname.replace(/\/+$/, '');
    if (options.pathStyle) {
      this.#hostname = url.hostname;
      this.#base = `${root}/${encodeKey(options.bucket)}`;
    } else {
      this.#hostname = `${options.bucket}.${url.hostname}`;
      this.#base = root;
    }
    this.#port = Number(url.port || (this.#https ? 443 : 80));
    this.#host = url.port ? `${this.#hostname}:${url.port}` : this.#hostname;
  }

  /** HEAD: the object's size. */
  async head(key: string): Promise<number> {
    const res = await this.send({ method: 'HEAD', key });
    await drained(res);
    return Number(res.headers['content-length'] ?? 0);
  }

  /** GET, optionally ranged: the reply, its body unread. */
  get(key: string, range?: string): Promise<IncomingMessage> {
    return this.send({ method: 'GET', key, ...(range !== undefined ? { headers: { range } } : {}) });
  }

  async put(key: string, body: Buffer | Readable, length: number, headers: Record<string, string>, signal?: AbortSignal): Promise<void> {
    const res = await this.send({ method: 'PUT', key, body, length, headers, ...(signal ? { signal } : {}) });
    await drained(res);
  }

  async delete(key: string): Promise<void> {
    const res = await this.send({ method: 'DELETE', key });
    await drained(res);
  }

  async list(prefix: string, delimiter: string | undefined, token: string | undefined, maxKeys?: number): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', prefix };
    if (maxKeys !== undefined) query['max-keys'] = String(maxKeys);
    if (delimiter) query.delimiter = delimiter;
    if (token) query['continuation-token'] = token;
    // A page is parsed whole; a reply cut short is retried like any failed read.
    return this.#retrying({ method: 'GET', query }, async (res) => parseListPage(await readText(res, 64 * 1024 * 1024)));
  }

  /** The reply of a successful request (2xx), retried as far as its body allows; its body is the caller's to read. */
  send(req: WireRequest): Promise<IncomingMessage> {
    return this.#retrying(req, async (res) => res);
  }

  destroy(): void {
    this.#agent.destroy();
  }

  async #retrying<T>(req: WireRequest, use: (res: IncomingMessage) => Promise<T>): Promise<T> {
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    const tries = replayable ? this.#options.maxRetries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.#once(req, attempt);
        return await use(res);
      } catch (err) {
        if (attempt >= tries || !retryable(err) || req.signal?.aborted) {
          if (err instanceof S3WireError) throw err;
          throw wrap(err, attempt);
        }
        await new Promise((resolve) => setTimeout(resolve, backoff(attempt)));
      }
    }
  }

  #once(req: WireRequest, attempt: number): Promise<IncomingMessage> | IncomingMessage {
    const credentials = this.#signer.credentials();
    if (credentials instanceof Promise) return credentials.then(() => this.#once(req, attempt));
    const path = req.key === undefined ? this.#base || '/' : `${this.#base}/${encodeKey(req.key)}`;
    const query = canonicalQuery(req.query);
    const headers: Record<string, string> = { host: this.#host };
    if (req.headers) for (const name of Object.keys(req.headers)) headers[name.toLowerCase()] = req.headers[name]!;
    const body = req.body;
    let payload = EMPTY_SHA256;
    if (body !== undefined) {
      headers['content-length'] = String(req.length ?? (Buffer.isBuffer(body) ? body.length : 0));
      payload = Buffer.isBuffer(body) ? createHash('sha256').update(body).digest('hex') : UNSIGNED_PAYLOAD;
      // A streamed body waits for the store's go-ahead: a refusal (412, 403) costs no body bytes.
      if (!Buffer.isBuffer(body)) headers.expect = '100-continue';
    }
    this.#signer.sign(credentials, req.method, path, query, headers, payload);
    const send = this.#https ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        reject(err);
      };
      let connectTimer: NodeJS.Timeout | undefined;
      const request = send({
        agent: this.#agent,
        hostname: this.#hostname,
        port: this.#port,
        method: req.method,
        path: query ? `${path}?${query}` : path,
        headers: headers as OutgoingHttpHeaders,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      request.setTimeout(this.#options.requestTimeout, () => {
        request.destroy(new S3WireError('TimeoutError', `no answer within ${this.#options.requestTimeout} ms`, undefined, attempt));
      });
      request.once('socket', (socket) => {
        if (!paced.has(socket)) {
          // Every read of the store's replies is a fresh buffer: let core pace the collections
          // that free them (a large GET would otherwise leave 30 MiB and more of them behind).
          paced.add(socket);
          socket.on('data', (chunk: Buffer) => paceCollections(chunk.length));
        }
        if (!(socket as { connecting?: boolean }).connecting) return;
        connectTimer = setTimeout(() => {
          request.destroy(new S3WireError('TimeoutError', `no connection within ${this.#options.connectTimeout} ms`, undefined, attempt));
        }, this.#options.connectTimeout);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      request.on('error', fail);
      request.once('response', (res) => {
        const status = res.statusCode ?? 0;
        clearTimeout(connectTimer);
        if (status >= 200 && status < 300) {
          if (settled) return void res.destroy();
          settled = true;
          resolve(res);
          return;
        }
        // A refusal that came before or while a streamed body was going: stop sending it,
        // read the error, then drop the connection (it is mid-request).
        if (body !== undefined && !Buffer.isBuffer(body)) body.unpipe(request);
        void this.#failure(res, req.method, attempt).then((error) => {
          if (!request.writableFinished) request.destroy();
          fail(error);
        });
      });
      if (body === undefined) request.end();
      else if (Buffer.isBuffer(body)) request.end(body);
      else {
        let started = false;
        const start = () => {
          if (started || settled) return;
          started = true;
          body.once('error', (err) => request.destroy(err));
          body.pipe(request);
        };
        request.once('continue', start);
        // Stores that never answer 100 Continue get the body after a second (as curl does).
        const wait = setTimeout(start, 1000);
        request.once('close', () => clearTimeout(wait));
        request.once('response', () => clearTimeout(wait));
      }
    });
  }

  async #failure(res: IncomingMessage, method: string, attempt: number): Promise<S3WireError> {
    const status = res.statusCode ?? 0;
    // (the body is read or discarded: a reply left unread would hold its connection)
    const text = method === 'HEAD' ? (res.resume(), '') : await readText(res, ERROR_BODY_LIMIT).catch(() => '');
    const { code, message } = parseError(text);
    // A reply without a body (HEAD) has no S3 error code: named as the SDK names it.
    const name = code ?? (status === 404 ? 'NotFound' : 'Unknown');
    return new S3WireError(name, message ?? `HTTP ${status}`, status, attempt);
  }
}

function wrap(err: unknown, attempts: number): S3WireError {
  const e = err as Error & { code?: string };
  const name = e?.name === 'AbortError' ? 'AbortError' : e?.name === 'TimeoutError' ? 'TimeoutError' : (e?.code ?? e?.name ?? 'Error');
  const wrapped = new S3WireError(name, e?.message ?? String(err), undefined, attempts, e?.code);
  wrapped.cause = err;
  return wrapped;
}
