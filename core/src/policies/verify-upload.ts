import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError, StorageErrorCode } from '../errors.js';
import { paceCollections } from '../storage/gc-pacer.js';

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
  /**
   * On the event loop, chunk by chunk (64 KiB: ~35 µs each with SHA-NI), for every body size.
   * Large bodies used to go to a worker thread; on this machine that was slower and cost
   * 12-16 MiB more (docs/benchmarks.md, "Changes of 2026-12-04").
   */
  readonly #hash: Hash | undefined;
  readonly #expected: string | undefined;

  /**
   * @param size the announced Content-Length
   * @param expectedSha256 the file's name (64 lowercase hex) to verify, or undefined to only count
   */
  constructor(size: number, expectedSha256?: string) {
    super();
    this.#remaining = size;
    this.#expected = expectedSha256;
    this.#hash = expectedSha256 === undefined ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    paceCollections(chunk.length);
    this.#remaining -= chunk.length;
    if (this.#remaining < 0) {
      callback(new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is longer than its Content-Length'));
      return;
    }
    this.#hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#remaining !== 0) {
      callback(new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is shorter than its Content-Length'));
      return;
    }
    callback(this.#hash === undefined ? null : this.#compare(this.#hash.digest('hex')));
  }

  #compare(digest: string): StorageError | null {
    return digest === this.#expected
      ? null
      : new StorageError(StorageErrorCode.DIGEST_MISMATCH, 'SHA-256 of the body does not match the file name');
  }
}
