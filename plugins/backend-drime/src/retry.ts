/**
 * Bounded retries with exponential backoff and full jitter. The HTTP layer marks
 * a failure as transient by throwing a `TransientError`; anything else ends the loop.
 */

export interface RetryPolicy {
  /** Attempts after the first one. */
  readonly maxRetries: number;
  /** Delay before the first retry (ms); doubles each time, with full jitter. */
  readonly baseDelay: number;
  /** Upper bound of any computed delay (ms). */
  readonly maxDelay: number;
  /** Upper bound of a server's `Retry-After` we honour (ms). */
  readonly maxRetryAfter: number;
  /** Injected for tests: records instead of waiting. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** The clock `sleep` runs on (epoch ms). */
  readonly now: () => number;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A failure worth another attempt (429, 5xx, dropped connection, timeout). */
export class TransientError extends Error {
  /** The server's `Retry-After`, in ms, when it sent one. */
  readonly retryAfter: number | undefined;
  /** The HTTP status, when the server answered (429 means it did nothing: always safe to repeat). */
  readonly status: number | undefined;
  constructor(message: string, options?: { retryAfter?: number; status?: number; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'TransientError';
    this.retryAfter = options?.retryAfter;
    this.status = options?.status;
  }
  get rateLimited(): boolean {
    return this.status === 429;
  }
}

/** `Retry-After` as ms: only the integer-seconds form, as Drime sends it. */
export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value) * 1000;
}

/** The wait before retry number `retry` (0-based) after `err`. */
export function retryDelay(policy: RetryPolicy, retry: number, err: TransientError): number {
  if (err.retryAfter !== undefined) return Math.min(err.retryAfter, policy.maxRetryAfter);
  const ceiling = Math.min(policy.maxDelay, policy.baseDelay * 2 ** retry);
  return Math.round(ceiling * policy.random());
}

/**
 * Run `attempt` until it succeeds, throws a non-transient error, or the retries are
 * spent; then `exhausted` turns the last transient error into the final one.
 * `attempt` gets the attempt number (0 first), so a caller can reconcile before a retry.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  exhausted: (last: TransientError, attempts: number) => Error,
  onRetry?: (err: TransientError, delay: number, n: number) => void,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      if (n >= policy.maxRetries) throw exhausted(err, n + 1);
      const delay = retryDelay(policy, n, err);
      onRetry?.(err, delay, n + 1);
      await policy.sleep(delay);
    }
  }
}
