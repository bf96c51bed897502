/**
 * One keep-alive connection pool to Drime (undici Agent), Bearer auth, and the
 * mapping of Drime's answers to errors: 429/5xx/dropped connections are transient
 * (retried by the caller's policy), 401 or an HTML page is a rejected key, 404 is
 * NOT_FOUND. The API key travels only in the Authorization header, and only to the
 * API's own origin (never to presigned or redirect URLs on other hosts); no message
 * built here contains it.
 */
import { Agent, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { StorageError, StorageErrorCode, type Logger } from '@pyrestserver/core';
import { TransientError, parseRetryAfter, withRetries, type RetryPolicy } from './retry.js';

export interface HttpConfig {
  readonly apiUrl: string;
  readonly apiKey: string;
  /** Connections per origin (keep-alive pool size). */
  readonly maxConnections: number;
  readonly connectTimeout: number;
  /** Longest wait for response headers, and longest silence within a body (ms). */
  readonly requestTimeout: number;
  readonly retry: RetryPolicy;
  readonly logger: Logger;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** A path under the API URL (`/drive/file-entries`) or an absolute URL (presigned, redirect). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly json?: unknown;
  readonly body?: Buffer | AsyncIterable<Uint8Array>;
  readonly headers?: Readonly<Record<string, string>>;
}

export type HttpResponse = Dispatcher.ResponseData;

/** Drime refused the API key (401, or a login page instead of JSON). */
export class DrimeAuthError extends StorageError {
  constructor(what: string) {
    super(StorageErrorCode.INTERNAL, `Drime rejected the API key (${what})`);
    this.name = 'DrimeAuthError';
  }
}

/** Undici errors that are bugs on our side, not network trouble. */
const NOT_TRANSIENT = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_NOT_SUPPORTED']);

export class DrimeHttp {
  readonly #config: HttpConfig;
  readonly #base: URL;
  readonly #agent: Agent;
  /** Until when (epoch ms) Drime asked us to hold off after a 429: new calls wait for it. */
  #holdUntil = 0;

  constructor(config: HttpConfig) {
    this.#config = config;
    this.#base = new URL(config.apiUrl.replace(/\/+$/, '') + '/');
    this.#agent = new Agent({
      connections: config.maxConnections,
      connect: { timeout: config.connectTimeout },
      headersTimeout: config.requestTimeout,
      bodyTimeout: config.requestTimeout,
      keepAliveTimeout: 30_000,
    });
  }

  get retryPolicy(): RetryPolicy {
    return this.#config.retry;
  }

  /** The API URL without credentials or query, for messages. */
  get displayUrl(): string {
    return this.#base.origin + this.#base.pathname.replace(/\/$/, '');
  }

  /** The URL a request goes to. */
  url(request: Pick<HttpRequest, 'path' | 'query'>): URL {
    const url = /^https?:\/\//i.test(request.path)
      ? new URL(request.path)
      : new URL(request.path.replace(/^\/+/, ''), this.#base);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  /** `METHOD /path` for logs and errors: no query string, no credentials. */
  describe(request: Pick<HttpRequest, 'method' | 'path'>): string {
    const url = this.url({ path: request.path });
    const path = url.origin === this.#base.origin ? url.pathname.slice(this.#base.pathname.length - 1) : `${url.host}${url.pathname}`;
    return `${request.method} ${path}`;
  }

  /**
   * One attempt. Resolves with any HTTP answer; a network failure (refused, reset,
   * timeout) becomes a TransientError.
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const url = this.url(request);
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    if (url.origin === this.#base.origin) headers.authorization = `Bearer ${this.#config.apiKey}`;
    let body: Dispatcher.DispatchOptions['body'];
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers['content-type'] = 'application/json';
    } else if (request.body !== undefined) {
      body = request.body as Dispatcher.DispatchOptions['body'];
    }
    try {
      return await this.#agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: request.method,
        headers,
        body,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (NOT_TRANSIENT.has(code)) throw err;
      throw new TransientError(code || (err as Error).message, { cause: err });
    }
  }

  /**
   * Turn an error answer into the matching error (its body is consumed); resolve
   * for 2xx and 3xx (downloads follow redirects; JSON calls treat them as a login page).
   */
  async check(request: HttpRequest, response: HttpResponse): Promise<void> {
    const status = response.statusCode;
    if (status < 400) return;
    const what = `${this.describe(request)} answered ${status}`;
    const text = await response.body.text().catch(() => '');
    if (status === 429 || status >= 500) {
      const retryAfter = status === 429 ? parseRetryAfter(response.headers['retry-after']) : undefined;
      if (status === 429) {
        const { baseDelay, maxRetryAfter, now } = this.#config.retry;
        this.#holdUntil = Math.max(this.#holdUntil, now() + Math.min(retryAfter ?? baseDelay, maxRetryAfter));
      }
      throw new TransientError(`answered ${status}`, { status, retryAfter });
    }
    if (status === 401 || status === 419) throw new DrimeAuthError(what);
    const detail = laravelMessage(text);
    if (status === 404) throw new StorageError(StorageErrorCode.NOT_FOUND, `${what}${detail}`);
    if (status === 413 || (status === 422 && /space|quota|storage limit/i.test(detail))) {
      throw new StorageError(StorageErrorCode.INSUFFICIENT_STORAGE, `${what}${detail}`);
    }
    throw new StorageError(StorageErrorCode.INTERNAL, `${what}${detail}`);
  }

  /** One attempt at a JSON call. A login page instead of JSON is a rejected key. */
  async jsonOnce<T>(request: HttpRequest): Promise<T> {
    const response = await this.send(request);
    await this.check(request, response);
    if (response.statusCode >= 300) {
      await response.body.dump();
      // A redirect on an API call is Laravel sending an unauthenticated client to its login page.
      throw new DrimeAuthError(`${this.describe(request)} redirected to a login page`);
    }
    const type = String(response.headers['content-type'] ?? '');
    let text: string;
    try {
      text = await response.body.text();
    } catch (err) {
      throw new TransientError('reply cut short', { cause: err });
    }
    if (/html/i.test(type) || /^\s*</.test(text)) throw new DrimeAuthError(`${this.describe(request)} answered an HTML page`);
    if (text.trim() === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new TransientError('unreadable JSON reply');
    }
  }

  /** A JSON call retried on transient failures; BACKEND_UNAVAILABLE once the retries are spent. */
  json<T>(request: HttpRequest): Promise<T> {
    return this.retrying(request, () => this.jsonOnce<T>(request));
  }

  /**
   * Retry `attempt` under the policy, naming `request` in logs and in the final error. A new
   * call first waits out a rate limit another call ran into (so that a streamed upload is not
   * sent into a certain 429); retries have waited already.
   */
  async retrying<T>(request: Pick<HttpRequest, 'method' | 'path'>, attempt: (n: number) => Promise<T>): Promise<T> {
    const what = this.describe(request);
    const hold = this.#holdUntil - this.#config.retry.now();
    if (hold > 0) await this.#config.retry.sleep(hold);
    return withRetries(this.#config.retry, attempt, (last, attempts) => unavailable(what, last, attempts), (err, delay, n) =>
      this.#config.logger.warn({ err: err.message, delay, attempt: n }, `Drime: retrying ${what}`),
    );
  }

  /** The final error for `request` after `attempts` attempts. */
  unavailable(request: Pick<HttpRequest, 'method' | 'path'>, last: Error, attempts: number): StorageError {
    return unavailable(this.describe(request), last, attempts);
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** The error restic retries: Drime stayed unreachable or busy. */
export function unavailable(what: string, last: Error, attempts: number): StorageError {
  return new StorageError(
    StorageErrorCode.BACKEND_UNAVAILABLE,
    `Drime API unavailable: ${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'} (${last.message})`,
  );
}

function laravelMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    return typeof message === 'string' && message ? `: ${message.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

/** Drain and ignore a response body we do not need. */
export const discard = (body: Readable & { dump?: () => Promise<void> }) =>
  (body.dump ? body.dump() : Promise.resolve(body.resume())).catch(() => undefined);
