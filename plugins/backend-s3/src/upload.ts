/**
 * Uploads: up to 64 KiB read into memory and sent as one PutObject (retried like any
 * request); above that streamed, one PutObject with Content-Length up to the part size
 * (both through wire.ts), multipart above it (through the SDK). A streamed upload holds nothing in memory beyond a chunk or two; the last chunk is released to the
 * store only once the body has ended cleanly, so a body that fails its check at the end
 * (core's SHA-256 or byte count) never completes an object. Multipart uploads are aborted
 * on any failure.
 */
import { PassThrough, type Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { StorageError, StorageErrorCode, type Logger } from '@pyrestserver/core';
import { ChunkReader } from './chunk-reader.js';
import { describe, isPreconditionFailed, storageError } from './errors.js';
import type { S3Wire } from './wire.js';

export interface UploadTarget {
  readonly bucket: string;
  readonly key: string;
  /** How the key is named in messages (`repo/data/ab12…`). */
  readonly label: string;
  readonly size: number;
  /** Send If-None-Match: * so that the store refuses an existing key. */
  readonly conditional: boolean;
  readonly storageClass?: string | undefined;
}

export interface UploadParts {
  /** Single PUTs. */
  readonly wire: S3Wire;
  /** Multipart uploads' parts. */
  readonly uploads: S3Client;
  /** For AbortMultipartUpload, which may be retried. */
  readonly client: S3Client;
  readonly partSize: number;
  readonly logger: Logger;
  /** Whether the key exists now (the check before completing a multipart upload). */
  readonly exists: () => Promise<boolean>;
  /** Whether the key holds exactly these bytes (a small upload whose retry found it stored). */
  readonly holds: (data: Buffer) => Promise<boolean>;
}

const short = () => new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is shorter than its Content-Length');
const long = () => new StorageError(StorageErrorCode.INCOMPLETE_BODY, 'request body is longer than its Content-Length');

async function writeTo(dest: Writable, chunk: Buffer): Promise<void> {
  if (dest.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      dest.off('drain', done);
      dest.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const closed = () => done(new Error('the upload stream closed'));
    dest.once('drain', done);
    dest.once('close', closed);
  });
}

/**
 * Move exactly `bytes` bytes of the body into `dest`, keeping the latest chunk back; with
 * `last`, the held chunk goes out only after the body ended without error and without extra bytes.
 */
async function pump(reader: ChunkReader, dest: Writable, bytes: number, last: boolean): Promise<void> {
  let remaining = bytes;
  let held: Buffer | undefined;
  while (remaining > 0) {
    let chunk = await reader.read();
    if (chunk === null) throw short();
    if (chunk.length > remaining) {
      reader.unshift(chunk.subarray(remaining));
      chunk = chunk.subarray(0, remaining);
    }
    remaining -= chunk.length;
    if (held) await writeTo(dest, held);
    held = chunk;
  }
  if (last && (await reader.read()) !== null) throw long();
  if (held) await writeTo(dest, held);
  dest.end();
}

/** One streamed request carrying `bytes` bytes of the body; its failure and the body's are told apart. */
async function streamed<T>(
  reader: ChunkReader,
  bytes: number,
  last: boolean,
  send: (body: PassThrough, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const body = new PassThrough({ highWaterMark: 64 * 1024 });
  // Its failure is reported through `bodyError`; the request is aborted by the signal.
  body.on('error', () => undefined);
  let bodyError: unknown;
  const pumping = pump(reader, body, bytes, last).catch((err: unknown) => {
    bodyError = err;
    abort.abort();
    body.destroy(err as Error);
  });
  try {
    const result = await send(body, abort.signal);
    await pumping;
    if (bodyError !== undefined) throw bodyError;
    return result;
  } catch (err) {
    abort.abort();
    if (!body.destroyed) body.destroy();
    if (bodyError !== undefined) throw bodyError;
    throw err;
  }
}

/** Store the body under `target.key`. Rejects with ALREADY_EXISTS, INCOMPLETE_BODY, the body's error or the store's. */
export async function upload(body: import('node:stream').Readable, target: UploadTarget, parts: UploadParts): Promise<void> {
  const reader = new ChunkReader(body);
  try {
    if (target.size <= parts.partSize) await single(reader, target, parts);
    else await multipart(reader, target, parts);
  } finally {
    reader.stop();
  }
}

/** Uploads up to this size are read into memory first: sent in one write, and retried by the SDK like any request. */
export const BUFFERED_UPLOAD = 64 * 1024;

/** The whole body (at most BUFFERED_UPLOAD bytes), once it ended cleanly with exactly `size` bytes. */
async function collectExactly(reader: ChunkReader, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let count = 0;
  for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) {
    count += chunk.length;
    if (count > size) throw long();
    chunks.push(chunk);
  }
  if (count < size) throw short();
  return Buffer.concat(chunks, size);
}

const retried = (err: unknown) => ((err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1) > 1;

async function single(reader: ChunkReader, target: UploadTarget, parts: UploadParts): Promise<void> {
  if (!target.conditional && (await parts.exists())) throw existing(target);
  const headers: Record<string, string> = {};
  if (target.conditional) headers['if-none-match'] = '*';
  if (target.storageClass) headers['x-amz-storage-class'] = target.storageClass;
  try {
    if (target.size <= BUFFERED_UPLOAD) {
      const data = await collectExactly(reader, target.size);
      try {
        await parts.wire.put(target.key, data, target.size, headers);
      } catch (err) {
        // A retry refused because an earlier attempt of ours landed (its reply was lost): stored.
        if (isPreconditionFailed(err) && retried(err) && (await parts.holds(data))) return;
        throw err;
      }
      return;
    }
    await streamed(reader, target.size, true, (body, signal) => parts.wire.put(target.key, body, target.size, headers, signal));
  } catch (err) {
    throw failure(err, reader, target, 'PUT');
  }
}

async function multipart(reader: ChunkReader, target: UploadTarget, parts: UploadParts): Promise<void> {
  // Multipart completion cannot be made exclusive on every store (Ceph RGW ignores
  // If-None-Match there): check before sending and again before completing.
  if (await parts.exists()) throw existing(target);
  let uploadId: string | undefined;
  try {
    const created = await parts.uploads.send(
      new CreateMultipartUploadCommand({
        Bucket: target.bucket,
        Key: target.key,
        ...(target.storageClass ? { StorageClass: target.storageClass as StorageClass } : {}),
      }),
    );
    uploadId = created.UploadId;
    if (!uploadId) throw new StorageError(StorageErrorCode.INTERNAL, `S3 CreateMultipartUpload ${target.label}: no UploadId in the reply`);
    const done: { ETag: string; PartNumber: number }[] = [];
    for (let offset = 0, number = 1; offset < target.size; offset += parts.partSize, number++) {
      const bytes = Math.min(parts.partSize, target.size - offset);
      const last = offset + bytes >= target.size;
      const id = uploadId;
      const reply = await streamed(reader, bytes, last, (body, abortSignal) =>
        parts.uploads.send(
          new UploadPartCommand({ Bucket: target.bucket, Key: target.key, UploadId: id, PartNumber: number, Body: body, ContentLength: bytes }),
          { abortSignal },
        ),
      );
      if (!reply.ETag) throw new StorageError(StorageErrorCode.INTERNAL, `S3 UploadPart ${target.label}: no ETag in the reply`);
      done.push({ ETag: reply.ETag, PartNumber: number });
    }
    if (await parts.exists()) throw existing(target);
    await parts.uploads.send(
      new CompleteMultipartUploadCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: done },
        ...(target.conditional ? { IfNoneMatch: '*' } : {}),
      }),
    );
    uploadId = undefined;
  } catch (err) {
    throw failure(err, reader, target, 'multipart upload');
  } finally {
    if (uploadId) await abortUpload(uploadId, target, parts);
  }
}

async function abortUpload(uploadId: string, target: UploadTarget, parts: UploadParts): Promise<void> {
  try {
    await parts.client.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId }));
  } catch (err) {
    // A lifecycle rule (AbortIncompleteMultipartUpload) is the safety net; see docs/backends.md.
    parts.logger.warn(`S3 could not abort the multipart upload of ${target.label}: ${describe(err)}`);
  }
}

const existing = (target: UploadTarget) => new StorageError(StorageErrorCode.ALREADY_EXISTS, `${target.label} already exists`);

/** The error to reject with: the body's own, a storage error already made, or the store's. */
function failure(err: unknown, reader: ChunkReader, target: UploadTarget, what: string): unknown {
  if (reader.error !== undefined) return reader.error;
  if (err instanceof StorageError) return err;
  const mapped = storageError(err, `${what} ${target.label}`);
  if (mapped.code === StorageErrorCode.ALREADY_EXISTS) return existing(target);
  return mapped;
}
