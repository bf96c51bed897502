/**
 * Pull chunks from a request body one at a time without ever destroying it: when the
 * provider stops early (a duplicate, the store refused), the body is only paused and
 * core drains the rest so the client gets its status.
 */
import type { Readable } from 'node:stream';

export class ChunkReader {
  readonly #stream: Readable;
  readonly #pending: Buffer[] = [];
  #error: unknown;
  #ended = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#pending.push(chunk);
    this.#stream.pause();
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  readonly #onError = (err: unknown) => {
    this.#error ??= err;
    this.#notify();
  };

  constructor(stream: Readable) {
    this.#stream = stream;
    stream.pause();
    stream.on('data', this.#onData);
    stream.once('end', this.#onEnd);
    stream.on('error', this.#onError);
    if (stream.errored) this.#error = stream.errored;
  }

  /** The body's error, once it failed. */
  get error(): unknown {
    return this.#error;
  }

  /** The next chunk, `null` at a clean end; rejects with the body's own error. */
  async read(): Promise<Buffer | null> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#stopped) throw new Error('the upload was stopped');
      const chunk = this.#pending.shift();
      if (chunk) return chunk;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#stream.resume();
      });
    }
  }

  /** Put back what a part did not take. */
  unshift(chunk: Buffer): void {
    if (chunk.length > 0) this.#pending.unshift(chunk);
  }

  /** Stop listening; the body stays paused (not destroyed). */
  stop(): void {
    this.#stopped = true;
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('error', this.#onError);
    this.#stream.pause();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
