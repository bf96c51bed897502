/**
 * Uploads, streamed: up to `multipart_threshold` as one `multipart/form-data` POST
 * built on the fly with its exact Content-Length; above it through Drime's S3
 * multipart flow, each part streamed to its presigned URL. Every stored entry is
 * checked (complete, right size, right name); a bad one is deleted. An attempt is
 * repeated only while its bytes can be sent again (buffered body, or nothing sent
 * yet); otherwise the upload fails with BACKEND_UNAVAILABLE and restic retries it.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StorageError, StorageErrorCode, type Logger } from '@pyrestserver/core';
import type { DrimeApi, MultipartStart } from './api.js';
import { matchesUpload, type FileEntry, type FolderId } from './entry.js';
import { discard, type HttpRequest } from './http.js';
import { TransientError } from './retry.js';
import { UploadBody } from './upload-body.js';

export interface UploadConfig {
  /** Bodies larger than this go through the S3 multipart flow. */
  readonly multipartThreshold: number;
  readonly partSize: number;
  /** Bodies up to this size are read into memory first, so that they can be retried. */
  readonly bufferLimit: number;
}

/** Drime signs at most 10 part URLs per call. */
const SIGN_BATCH = 10;

export class Uploader {
  readonly #api: DrimeApi;
  readonly #config: UploadConfig;
  readonly #logger: Logger;

  constructor(api: DrimeApi, config: UploadConfig, logger: Logger) {
    this.#api = api;
    this.#config = config;
    this.#logger = logger;
  }

  /**
   * Store `size` bytes of `source` as `name` in folder `parentId` and return the
   * verified entry. `reconcile` removes what a failed attempt may have left, before
   * the next attempt.
   */
  async upload(parentId: FolderId, name: string, source: Readable, size: number, reconcile: () => Promise<void>): Promise<FileEntry> {
    const body = await UploadBody.open(source, size, this.#config.bufferLimit);
    const multipart = size > this.#config.multipartThreshold;
    const request: HttpRequest = { method: 'POST', path: multipart ? '/s3/multipart/create' : '/uploads' };
    try {
      return await this.#api.http.retrying(request, async (n) => {
        if (n > 0) await reconcile();
        const send = multipart ? () => this.#multipart(parentId, name, body) : () => this.#form(parentId, name, body);
        return this.#verified(request, body, name, n, send);
      });
    } catch (err) {
      // The request went out: Drime may hold an entry of it (dropped reply, incomplete upload).
      await reconcile().catch((cleanup: Error) => this.#logger.warn({ err: cleanup.message }, `Drime: could not clean up after a failed upload of ${name}`));
      throw err;
    }
  }

  /** One attempt whose stored entry must be the complete upload, else it is deleted. */
  async #verified(request: HttpRequest, body: UploadBody, name: string, n: number, run: () => Promise<FileEntry>): Promise<FileEntry> {
    const entry = await this.#attempt(request, body, 0, n, run);
    if (matchesUpload(entry, name, body.size)) return entry;
    await this.#api.deleteEntries([entry.id]);
    const incomplete = new TransientError(
      `Drime kept an incomplete upload of ${name} (${entry.file_size} of ${body.size} bytes, ${entry.users?.length ?? 0} users)`,
    );
    if (!body.canSend(0)) throw this.#api.http.unavailable(request, incomplete, n + 1);
    throw incomplete;
  }

  /**
   * Run one attempt that sends `body` from `offset`. The body's own failure wins over
   * the network error it caused; a transient failure is final when the bytes are gone.
   */
  async #attempt<T>(request: HttpRequest, body: UploadBody, offset: number, n: number, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      body.revoke();
      if (body.failure !== undefined) throw body.failure;
      if (err instanceof TransientError && !body.canSend(offset)) throw this.#api.http.unavailable(request, err, n + 1);
      throw err;
    }
  }

  #form(parentId: FolderId, name: string, body: UploadBody): Promise<FileEntry> {
    const boundary = `pyrestserver-${randomBytes(16).toString('hex')}`;
    const fields: [string, string][] = [
      ...(parentId !== null ? [['parentId', String(parentId)] as [string, string]] : []),
      ['relativePath', name],
      ['workspaceId', String(this.#api.workspaceId)],
    ];
    const head = Buffer.from(
      fields.map(([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`).join('') +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name.replace(/["\\\r\n]/g, '_')}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* stream() {
      yield head;
      yield* body.bytes(0, body.size);
      // The source must end cleanly (core's digest check fails here) before the form may close.
      await body.end();
      yield tail;
    }
    return this.#api.uploadOnce(stream(), {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + body.size + tail.length),
    });
  }

  async #multipart(parentId: FolderId, name: string, body: UploadBody): Promise<FileEntry> {
    const start = await this.#api.multipartCreate(name, body.size, parentId);
    try {
      const { partSize } = this.#config;
      const count = Math.max(1, Math.ceil(body.size / partSize));
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let first = 1; first <= count; first += SIGN_BATCH) {
        const numbers = Array.from({ length: Math.min(SIGN_BATCH, count - first + 1) }, (_, i) => first + i);
        const urls = await this.#api.signParts(start, numbers);
        for (const number of numbers) {
          const url = urls.get(number);
          if (!url) throw new StorageError(StorageErrorCode.INTERNAL, `Drime signed no URL for part ${number}`);
          const offset = (number - 1) * partSize;
          const etag = await this.#putPart(url, body, offset, Math.min(partSize, body.size - offset));
          parts.push({ PartNumber: number, ETag: etag });
        }
      }
      await body.end();
      await this.#api.multipartComplete(start, parts);
      return await this.#api.s3Entry(start, name, body.size, parentId);
    } catch (err) {
      await this.#abort(start);
      throw err;
    }
  }

  #putPart(url: string, body: UploadBody, offset: number, length: number): Promise<string> {
    const http = this.#api.http;
    // The content type pydrime sends (and a presigned URL may have signed).
    const headers = { 'content-length': String(length), 'content-type': 'application/octet-stream' };
    const request: HttpRequest = { method: 'PUT', path: url, headers };
    return http.retrying(request, (n) =>
      this.#attempt(request, body, offset, n, async () => {
        const response = await http.send({ ...request, body: body.bytes(offset, length) });
        await http.check(request, response);
        const etag = response.headers.etag;
        await discard(response.body);
        if (typeof etag !== 'string') throw new StorageError(StorageErrorCode.INTERNAL, `${http.describe(request)}: no ETag`);
        return etag;
      }),
    );
  }

  async #abort(start: MultipartStart): Promise<void> {
    try {
      await this.#api.multipartAbort(start);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'Drime: could not abort a multipart upload');
    }
  }
}
