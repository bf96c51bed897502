import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a verified password is trusted without running its hash again. */
export const CREDENTIAL_TTL_MS = 5 * 60_000;

/**
 * Remembers, per user, the last password that verified, so that bcrypt (tens of
 * milliseconds per check) does not run on every request restic makes.
 *
 * Nothing reversible is kept: the key is SHA-256 over a random per-process salt, the
 * user name and the password. One entry per user at most; entries expire after `ttlMs`
 * and all are dropped by `clear()` (the htpasswd file was reloaded).
 */
export class CredentialCache {
  readonly #salt = randomBytes(32);
  readonly #entries = new Map<string, { digest: Buffer; expires: number }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? CREDENTIAL_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The salted digest standing for this user and password. */
  digest(user: string, password: string): Buffer {
    return createHash('sha256').update(this.#salt).update(user).update('\0').update(password).digest();
  }

  /** True when this digest was verified for `user` less than the TTL ago. */
  has(user: string, digest: Buffer): boolean {
    const entry = this.#entries.get(user);
    if (!entry) return false;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(user);
      return false;
    }
    return timingSafeEqual(entry.digest, digest);
  }

  add(user: string, digest: Buffer): void {
    this.#entries.set(user, { digest, expires: this.#now() + this.#ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
