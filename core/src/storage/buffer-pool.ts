/**
 * 512 KiB buffers for the paths that move large bodies: a provider's read buffers for large
 * downloads (the local backend's ChunkPool), shared by every download in flight.
 *
 * A buffer is made when none is free and dropped when more than `keep` are given back; free
 * buffers not asked for during `idleMs` are let go, so an idle server does not hold them.
 * (Upload slabs of the former SHA-256 worker thread came from here too: one pool for both
 * held 8 MiB less at the peaks of restic's backup and restore, docs/benchmarks.md.)
 *
 * Whoever takes a buffer owns it until it gives it back, once; a buffer never given back is
 * simply collected. The pool hands out plain ArrayBuffers (not slices of Node's shared
 * Buffer pool), which a provider may also transfer to a worker thread.
 */
export class BufferPool {
  readonly size: number;
  readonly #keep: number;
  readonly #idleMs: number;
  readonly #free: ArrayBuffer[] = [];
  #taken = false;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param size bytes per buffer
   * @param keep free buffers kept at most
   * @param idleMs free buffers are dropped after this long without a `take()`
   */
  constructor(size: number, keep: number, idleMs = 30_000) {
    this.size = size;
    this.#keep = keep;
    this.#idleMs = idleMs;
  }

  /** A buffer of `size` bytes, free for the caller to use until it gives it back. */
  take(): ArrayBuffer {
    this.#taken = true;
    return this.#free.pop() ?? new ArrayBuffer(this.size);
  }

  /** Hand back a buffer that `take()` gave (or any ArrayBuffer of `size` bytes no one else uses). */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength !== this.size || this.#free.length >= this.#keep) return;
    this.#free.push(buffer);
    this.#watchIdle();
  }

  /** Free buffers held now (for tests and metrics). */
  get freeCount(): number {
    return this.#free.length;
  }

  #watchIdle(): void {
    if (this.#timer) return;
    this.#taken = false;
    this.#timer = setInterval(() => {
      if (this.#taken) {
        this.#taken = false;
        return;
      }
      this.#free.length = 0;
      clearInterval(this.#timer);
      this.#timer = undefined;
    }, this.#idleMs);
    this.#timer.unref();
  }
}

/** Bytes per buffer of the shared pool. */
export const LARGE_BUFFER_BYTES = 512 * 1024;

/** The process's pool of LARGE_BUFFER_BYTES buffers: 16 kept (8 MiB), enough for 8 downloads (2 buffers each) in flight. */
export const largeBuffers = new BufferPool(LARGE_BUFFER_BYTES, 16);
