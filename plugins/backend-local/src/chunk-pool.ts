/**
 * Read buffers used again once their bytes have been sent.
 *
 * A large GET reads its file 512 KiB at a time. With a new buffer per read, the dead
 * buffers of every download wait for V8's next major collection, which comes only after
 * tens of MiB of them have piled up. Core tells a body stream when the server is done with
 * a chunk (`recycle`, see OpenedFile in core's storage types): the buffer comes back here
 * and the next read fills it again.
 *
 * The memory comes from core's pool of large buffers (buffer-pool.ts), shared by all
 * downloads in flight.
 * A buffer is lent to one read at a time and taken back at most once, only from the
 * stream that was lent it; a chunk that never comes back is simply collected.
 */
import type { BufferPool } from '@pyrestserver/core';

export class ChunkPool {
  readonly #pool: BufferPool;
  /**
   * The full buffers lent out, by their memory (chunks handed on may be views of them);
   * weak, so that a buffer whose consumer never recycles is collected with its entry.
   */
  readonly #lent = new WeakSet<ArrayBufferLike>();

  constructor(pool: BufferPool) {
    this.#pool = pool;
  }

  get size(): number {
    return this.#pool.size;
  }

  /** A buffer of `size` bytes of its own (not a slice of Node's shared pool). */
  take(): Buffer {
    const memory = this.#pool.take();
    this.#lent.add(memory);
    return Buffer.from(memory);
  }

  /** Take back the buffer behind `chunk`; false when it is not one lent out (or came back already). */
  give(chunk: Uint8Array): boolean {
    const memory = chunk.buffer;
    if (!this.#lent.has(memory)) return false;
    this.#lent.delete(memory);
    this.#pool.give(memory as ArrayBuffer);
    return true;
  }
}
