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
  #leftover: Buffer | undefined;
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
    let missing = length;
    while (missing > 0) {
      const chunk = this.#leftover ?? (await this.#next());
      this.#leftover = undefined;
      if (!chunk) throw this.#fail(wrongLength(`only ${this.#cursor}`, this.size));
      const piece = chunk.length > missing ? chunk.subarray(0, missing) : chunk;
      if (chunk.length > missing) this.#leftover = chunk.subarray(missing);
      missing -= piece.length;
      this.#cursor += piece.length;
      yield piece;
    }
  }

  /** After the last byte: the source must end here, without error. */
  async end(): Promise<void> {
    if (this.#buffer) return;
    const extra = this.#leftover ?? (await this.#next());
    if (extra && extra.length > 0) throw this.#fail(wrongLength('more than', this.size));
  }

  async #next(): Promise<Buffer | undefined> {
    this.#iterator ??= this.#source![Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      for (;;) {
        const { done, value } = await this.#iterator.next();
        if (done) return undefined;
        if (value.length > 0) return Buffer.isBuffer(value) ? value : Buffer.from(value);
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
