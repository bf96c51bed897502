/**
 * Read buffers used again once their bytes have been sent.
 *
 * A large GET reads its file 512 KiB at a time. With a new buffer per read, the dead
 * buffers of every download wait for V8's next major collection, which comes only after
 * tens of MiB of them have piled up. Core tells a body stream when the server is done with
 * a chunk (`recycle`, see OpenedFile in core's storage types): the buffer comes back here
 * and the next read fills it again.
 *
 * A buffer is lent to one read at a time and taken back at most once, only from the
 * stream that was lent it; a chunk that never comes back is simply collected.
 */
export class ChunkPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];
  /**
   * The full buffers lent out, by their memory (chunks handed on may be views of them);
   * weak, so that a buffer whose consumer never recycles is collected with its entry.
   */
  readonly #lent = new WeakMap<ArrayBufferLike, Buffer>();

  /** @param size bytes per buffer; @param keep free buffers kept at most */
  constructor(size: number, keep: number) {
    this.#size = size;
    this.#keep = keep;
  }

  get size(): number {
    return this.#size;
  }

  /** A buffer of `size` bytes of its own (not a slice of Node's shared pool). */
  take(): Buffer {
    const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#size);
    this.#lent.set(buffer.buffer, buffer);
    return buffer;
  }

  /** Take back the buffer behind `chunk`; false when it is not one lent out (or came back already). */
  give(chunk: Uint8Array): boolean {
    const buffer = this.#lent.get(chunk.buffer);
    if (!buffer) return false;
    this.#lent.delete(chunk.buffer);
    if (this.#free.length < this.#keep) this.#free.push(buffer);
    return true;
  }
}
