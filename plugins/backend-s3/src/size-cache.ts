/**
 * Sizes of objects this instance has seen (written, listed, read or HEADed), so a HEAD is
 * answered without a request to the store, as `rclone serve restic` answers from its cache
 * of listed objects. It is safe because restic's files never change once written (their
 * names are the SHA-256 of their contents, and the provider never overwrites): a kept size
 * is never wrong, only perhaps stale after another instance deleted the object, for at most
 * `ttl` (docs/scaling.md). Absence is never kept: a file another instance writes is seen at
 * once. Reads, listings and uploads always ask the store.
 */

interface Entry {
  readonly size: number;
  readonly until: number;
}

export class SizeCache {
  readonly #ttl: number;
  readonly #max: number;
  /** In insertion order, oldest first (Map order): the first ones go when it is full. */
  readonly #entries = new Map<string, Entry>();
  #deletes = 0;

  /** `ttl` in ms (0: nothing is kept), at most `max` entries. */
  constructor(ttl: number, max = 100_000) {
    this.#ttl = ttl;
    this.#max = max;
  }

  /**
   * Counts deletes. A size learnt by a request that a delete overlapped may be of the
   * object just deleted: `set` with the count read before the request skips it then.
   */
  get deletes(): number {
    return this.#deletes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now = Date.now()): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.size;
  }

  set(key: string, size: number, deletesBefore?: number, now = Date.now()): void {
    if (this.#ttl <= 0 || (deletesBefore !== undefined && deletesBefore !== this.#deletes)) return;
    this.#entries.delete(key);
    this.#entries.set(key, { size, until: now + this.#ttl });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(key: string): void {
    this.#deletes++;
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
