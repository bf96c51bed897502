import { availableParallelism } from 'node:os';

export interface LoginGuardOptions {
  /** Password checks running at once (bcrypt on libuv's thread pool, the crypt worker). */
  maxInFlight: number;
  /** Checks waiting for a slot; one more is refused (429) at once. */
  maxQueued: number;
  /** Wrong passwords one client address may send per window before it is refused (429). */
  failureLimit: number;
  /** The window, from an address's first failure in it. */
  windowMs: number;
  /** Addresses remembered at most (the oldest are forgotten first). */
  maxAddresses: number;
  now: () => number;
}

/**
 * At most half the cores (and 2) check passwords at once: libuv's thread pool has 4
 * threads, which the file system needs too, and the event loop needs a core.
 */
export const DEFAULT_LOGIN_LIMITS: LoginGuardOptions = {
  maxInFlight: Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2))),
  maxQueued: 64,
  failureLimit: 10,
  windowMs: 60_000,
  maxAddresses: 100_000,
  now: Date.now,
};

/** Thrown instead of checking a password: too many failures from this address, or too many checks waiting. */
export class LoginThrottled extends Error {
  /** Seconds after which the client may try again (Retry-After). */
  readonly retryAfter: number;
  constructor(message: string, retryAfter: number) {
    super(message);
    this.name = 'LoginThrottled';
    this.retryAfter = retryAfter;
  }
}

/**
 * What keeps a flood of wrong passwords from slowing everyone else: a bound on the
 * password checks in flight (the rest wait in a bounded queue) and, per client address,
 * a limit on wrong passwords per window after which that address is answered 429
 * without any check until its window ends. Credentials already verified (the
 * credential cache) never come here, so users who logged in are not slowed by either.
 */
export class LoginGuard {
  readonly #options: LoginGuardOptions;
  #running = 0;
  readonly #queue: (() => void)[] = [];
  readonly #failures = new Map<string, { count: number; resetAt: number }>();

  constructor(options: Partial<LoginGuardOptions> = {}) {
    this.#options = { ...DEFAULT_LOGIN_LIMITS, ...options };
  }

  /** Throws LoginThrottled when `address` has used up its failures for this window. */
  admit(address: string): void {
    const entry = this.#failures.get(address);
    if (!entry) return;
    const now = this.#options.now();
    if (entry.resetAt <= now) {
      this.#failures.delete(address);
      return;
    }
    if (entry.count >= this.#options.failureLimit) {
      throw new LoginThrottled(`too many wrong passwords from ${address}`, Math.ceil((entry.resetAt - now) / 1000));
    }
  }

  /** Count a wrong password from `address`. */
  failed(address: string): void {
    const now = this.#options.now();
    let entry = this.#failures.get(address);
    if (!entry || entry.resetAt <= now) {
      this.#failures.delete(address);
      if (this.#failures.size >= this.#options.maxAddresses) this.#forgetOldest(now);
      entry = { count: 0, resetAt: now + this.#options.windowMs };
      this.#failures.set(address, entry);
    }
    entry.count++;
  }

  /** Drop expired entries, and the oldest ones while still full (a Map keeps insertion order). */
  #forgetOldest(now: number): void {
    for (const [address, entry] of this.#failures) if (entry.resetAt <= now) this.#failures.delete(address);
    for (const address of this.#failures.keys()) {
      if (this.#failures.size < this.#options.maxAddresses) break;
      this.#failures.delete(address);
    }
  }

  /** Run `check` when a slot is free; LoginThrottled when the queue is full. */
  async run<T>(check: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#options.maxInFlight) {
      if (this.#queue.length >= this.#options.maxQueued) {
        throw new LoginThrottled('too many password checks waiting', 1);
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await check();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Checks running and waiting now. */
  get load(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#queue.length };
  }
}
