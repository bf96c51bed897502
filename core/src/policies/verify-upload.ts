import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError, StorageErrorCode } from '../errors.js';
import { OFF_THREAD_MIN_BYTES, OffThreadHash } from './hash-worker.js';

/**
 * The stream an upload body passes through on its way to the provider. It counts the
 * bytes against the announced Content-Length and, when given the expected name, hashes
 * them with SHA-256.
 *
 * Both checks fail in `_flush`, that is before the provider sees end-of-stream, so a
 * provider never commits a body that is short, long, or not what its name says: it sees
 * the stream error instead (INCOMPLETE_BODY or DIGEST_MISMATCH, both HTTP 400).
 */
export class UploadCheck extends Transform {
  #remaining: number;
  readonly #hash: Hash | undefined;
  /** Large bodies are hashed on a worker thread (hash-worker.ts). */
  readonly #offThread: OffThreadHash | undefined;
  readonly #expected: string | undefined;

  /**
   * @param size the announced Content-Length
   * @param expectedSha256 the file's name (64 lowercase hex) to verify, or undefined to only count
   */
  constructor(size: number, expectedSha256?: string) {
    super();
    this.#remaining = size;
    this.#expected = expectedSha256;
    const offThread = expectedSha256 !== undefined && size >= OFF_THREAD_MIN_BYTES;
    this.#offThread = offThread ? new OffThreadHash() : undefined;
    this.#hash = expectedSha256 === undefined || offThread ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#remaining -= chunk.length;
    if (this.#remaining < 0) {
      callback(new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is longer than its Content-Length'));
      return;
    }
    this.#hash?.update(chunk);
    const caughtUp = this.#offThread?.update(chunk);
    if (caughtUp) caughtUp.then(() => callback(null, chunk), callback);
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#remaining !== 0) {
      callback(new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is shorter than its Content-Length'));
      return;
    }
    if (this.#offThread) {
      this.#offThread.digest().then(
        (digest) => callback(this.#compare(digest)),
        (err: unknown) => callback(new StorageError(StorageErrorCode.INTERNAL, 'hashing the upload failed', { cause: err })),
      );
      return;
    }
    callback(this.#hash === undefined ? null : this.#compare(this.#hash.digest('hex')));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#offThread?.abort();
    callback(err);
  }

  #compare(digest: string): StorageError | null {
    return digest === this.#expected
      ? null
      : new StorageError(StorageErrorCode.DIGEST_MISMATCH, 'SHA-256 of the body does not match the file name');
  }
}
