/**
 * The bytes of one upload. A small body is read into memory first (bounded by
 * `upload_buffer_size`), so a failed attempt can be sent again; a larger one is
 * streamed straight from the request, once, and may be cut into consecutive
 * slices (multipart parts) without copying. Either way the body must carry exactly
 * `size` bytes, else INCOMPLETE_BODY; a source that fails (client gone, digest
 * mismatch found by core) keeps its own error in `failure`.
 */
import type { Readable } from 'node:stream';
import { StorageError, StorageErrorCode } from '@pyrestserver/core';

const wrongLength = (got: string, size: number) =>
  new StorageError(StorageErrorCode.INCOMPLETE_BODY, `upload body carried ${got} bytes, ${size} announced`);

export class UploadBody {
  readonly size: number;
  readonly #buffer: Buffer | undefined;
  readonly #source: Readable | undefined;
  #iterator: AsyncIterator<Buffer> | undefined;
  /** A chunk read from the source and not handed out yet. */
  #leftover: Buffer | undefined;
  #pending: Promise<void> | undefined;
  #ended = false;
  /** The reader (attempt) that owns the stream now; older ones must let go. */
  #owner = 0;
  /** Bytes handed out from the stream so far. */
  #cursor = 0;
  #failure: unknown;

  private constructor(size: number, buffer: Buffer | undefined, source: Readable | undefined) {
    this.size = size;
    this.#buffer = buffer;
    this.#source = source;
  }

  /** Buffer `source` when it is at most `bufferLimit` bytes, else keep it as a stream. */
  static async open(source: Readable, size: number, bufferLimit: number): Promise<UploadBody> {
    if (size > bufferLimit) return new UploadBody(size, undefined, source);
    const streamed = new UploadBody(size, undefined, source);
    const chunks: Buffer[] = [];
    for await (const chunk of streamed.bytes(0, size)) chunks.push(chunk);
    await streamed.end();
    return new UploadBody(size, Buffer.concat(chunks, size), undefined);
  }

  /** True when the bytes from `offset` on can still be sent (again). */
  canSend(offset: number): boolean {
    return this.#buffer !== undefined || this.#cursor === offset;
  }

  /** The error the source itself failed with (not a network error). */
  get failure(): unknown {
    return this.#failure;
  }

  /** `length` bytes from `offset`; a stream only sequentially, each byte once. */
  async *bytes(offset: number, length: number): AsyncGenerator<Buffer> {
    if (this.#buffer) {
      if (length > 0) yield this.#buffer.subarray(offset, offset + length);
      return;
    }
    if (offset !== this.#cursor) throw new Error(`upload body already sent up to byte ${this.#cursor}`);
    const me = ++this.#owner;
    let missing = length;
    while (missing > 0) {
      const chunk = await this.#take(me);
      if (!chunk) throw this.#fail(wrongLength(`only ${this.#cursor}`, this.size));
      if (chunk.length > missing) this.#leftover = chunk.subarray(missing);
      const piece = chunk.length > missing ? chunk.subarray(0, missing) : chunk;
      missing -= piece.length;
      this.#cursor += piece.length;
      yield piece;
    }
  }

  /** After the last byte: the source must end here, without error. */
  async end(): Promise<void> {
    if (this.#buffer) return;
    const extra = await this.#take(++this.#owner);
    if (extra && extra.length > 0) throw this.#fail(wrongLength('more than', this.size));
  }

  /**
   * A failed attempt gives up the stream: a read it left pending hands its chunk to
   * the next attempt instead of swallowing it.
   */
  revoke(): void {
    this.#owner++;
  }

  /** The next chunk for reader `me`, claimed only while `me` owns the stream. */
  async #take(me: number): Promise<Buffer | undefined> {
    for (;;) {
      if (me !== this.#owner) throw new Error('upload attempt abandoned');
      if (this.#leftover) {
        const chunk = this.#leftover;
        this.#leftover = undefined;
        return chunk;
      }
      if (this.#ended) return undefined;
      await (this.#pending ??= this.#pull().finally(() => (this.#pending = undefined)));
    }
  }

  /** Read one chunk from the source into `#leftover` (or mark the end). */
  async #pull(): Promise<void> {
    this.#iterator ??= this.#source![Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      for (;;) {
        const { done, value } = await this.#iterator.next();
        if (done) {
          this.#ended = true;
          return;
        }
        if (value.length > 0) {
          this.#leftover = Buffer.isBuffer(value) ? value : Buffer.from(value);
          return;
        }
      }
    } catch (err) {
      throw this.#fail(err);
    }
  }

  #fail(err: unknown): unknown {
    this.#failure ??= err;
    return err;
  }
}
