/**
 * The StorageProvider over one S3 bucket, in restic's own S3 layout (see layout.ts).
 * Reads are one ranged GET (`open` returns the size from Content-Range); lists are
 * ListObjectsV2 pages streamed as they come, the next page asked for while the current
 * one is consumed; uploads are in upload.ts. Repositories seen to exist are remembered
 * (they are never removed), so writes and lists cost no extra request.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import {
  notFound,
  StorageError,
  StorageErrorCode,
  type BlobType,
  type ByteRange,
  type FileInfo,
  type FileRef,
  type Logger,
  type OpenedFile,
  type StorageProvider,
} from '@pyrestserver/core';
import type { S3Clients } from './client.js';
import { isInvalidRange, isNotFound, storageError } from './errors.js';
import { Layout, TYPE_FOLDERS } from './layout.js';
import { upload } from './upload.js';

export interface S3ProviderParts {
  readonly clients: S3Clients;
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly conditionalWrites: boolean;
  readonly storageClass?: string | undefined;
  readonly logger: Logger;
}

/** Reads up to this many bytes are held in one buffer instead of streamed. */
const SMALL_READ = 64 * 1024;

async function collect(body: Readable, length: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk as Buffer);
  } catch (err) {
    throw storageError(err, `GET ${what}`);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== length) {
    throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, `S3 GET ${what}: ${bytes.length} of ${length} bytes arrived`);
  }
  return bytes;
}

const label = (ref: FileRef) => `${ref.repo === '' ? '' : `${ref.repo}/`}${ref.type === 'config' ? 'config' : `${ref.type}/${ref.name}`}`;
const repoLabel = (repo: string) => (repo === '' ? 'repository /' : `repository ${repo}`);

export class S3Provider implements StorageProvider {
  readonly #parts: S3ProviderParts;
  readonly #layout: Layout;
  readonly #known = new Set<string>();

  constructor(parts: S3ProviderParts) {
    this.#parts = parts;
    this.#layout = new Layout(parts.prefix);
  }

  get #client() {
    return this.#parts.clients.client;
  }

  get #bucket() {
    return this.#parts.bucket;
  }

  async createRepository(repo: string): Promise<void> {
    const marker = this.#layout.marker(repo);
    if (marker !== undefined) {
      try {
        await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: marker, Body: Buffer.alloc(0), ContentLength: 0 }));
      } catch (err) {
        throw storageError(err, `create ${repoLabel(repo)}`);
      }
    }
    this.#known.add(repo);
  }

  async repositoryExists(repo: string): Promise<boolean> {
    if (this.#known.has(repo)) return true;
    const marker = this.#layout.marker(repo);
    // Without a prefix, the bucket itself is the root repository.
    const found =
      marker === undefined ||
      (await Promise.all([this.#exists(marker), this.#exists(this.#layout.key({ repo, type: 'config', name: 'config' }))])).some(Boolean);
    if (found) this.#known.add(repo);
    return found;
  }

  async stat(ref: FileRef): Promise<{ size: number }> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#layout.key(ref) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      throw storageError(err, `HEAD ${label(ref)}`);
    }
  }

  async read(ref: FileRef, range?: ByteRange): Promise<Readable> {
    const { body } = await this.open(ref, range);
    return body instanceof Uint8Array ? Readable.from([body]) : body;
  }

  async open(ref: FileRef, range?: ByteRange): Promise<OpenedFile> {
    const key = this.#layout.key(ref);
    const header = range ? `bytes=${range.start}-${range.end >= Number.MAX_SAFE_INTEGER ? '' : range.end}` : undefined;
    let reply;
    try {
      reply = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, ...(header ? { Range: header } : {}) }));
    } catch (err) {
      // A range starting at or past the end (an empty file has no byte 0): the size, and no bytes.
      if (isInvalidRange(err)) return { size: (await this.stat(ref)).size, body: Buffer.alloc(0) };
      throw storageError(err, `GET ${label(ref)}`);
    }
    const body = reply.Body as Readable | undefined;
    const total = /\/(\d+)$/.exec(reply.ContentRange ?? '')?.[1];
    if (range && reply.$metadata.httpStatusCode !== 206 && !(range.start === 0 && (reply.ContentLength ?? 0) <= range.end + 1)) {
      body?.destroy();
      throw new StorageError(StorageErrorCode.INTERNAL, `S3 GET ${label(ref)}: the store ignored the Range header`);
    }
    const size = total !== undefined ? Number(total) : (reply.ContentLength ?? 0);
    if (!body) return { size, body: Buffer.alloc(0) };
    // Small reads (most of restic's: headers, index and tree blobs) are collected, so core
    // sends them with the reply's headers in one write; larger ones stream.
    const length = reply.ContentLength;
    if (length !== undefined && length <= SMALL_READ) return { size, body: await collect(body, length, label(ref)) };
    return { size, body };
  }

  async write(ref: FileRef, body: Readable, size: number): Promise<void> {
    if (!(await this.repositoryExists(ref.repo))) throw notFound(repoLabel(ref.repo));
    const key = this.#layout.key(ref);
    await upload(
      body,
      {
        bucket: this.#bucket,
        key,
        label: label(ref),
        size,
        conditional: this.#parts.conditionalWrites,
        storageClass: this.#parts.storageClass,
      },
      {
        uploads: this.#parts.clients.uploads,
        client: this.#client,
        partSize: this.#parts.partSize,
        logger: this.#parts.logger,
        exists: () => this.#exists(key),
        holds: async (data) => {
          try {
            const { body } = await this.open(ref);
            return body instanceof Uint8Array && Buffer.from(body.buffer, body.byteOffset, body.byteLength).equals(data);
          } catch {
            return false;
          }
        },
      },
    );
  }

  async *list(repo: string, type: BlobType): AsyncIterable<FileInfo> {
    if (!(await this.repositoryExists(repo))) throw notFound(repoLabel(repo));
    const prefix = this.#layout.typePrefix(repo, type);
    // data/ holds data/<2 hex>/<name>; the other types hold their files directly.
    for await (const page of this.#pages(prefix, type === 'data' ? undefined : '/')) {
      for (const object of page.Contents ?? []) {
        const name = object.Key === undefined ? undefined : this.#layout.nameOf(object.Key, prefix, type);
        if (name !== undefined) yield { name, size: object.Size ?? 0 };
      }
    }
  }

  async delete(ref: FileRef): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#layout.key(ref) }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw storageError(err, `DELETE ${label(ref)}`);
    }
  }

  /**
   * Every repository: a key prefix holding `config`, a `keys/` folder or our marker,
   * found level by level with the `/` delimiter (a repository's own type folders are not entered).
   */
  async *repositories(): AsyncIterable<string> {
    const queue = [this.#layout.base];
    for (let prefix = queue.shift(); prefix !== undefined; prefix = queue.shift()) {
      const folders: string[] = [];
      let isRepo = false;
      for await (const page of this.#pages(prefix, '/')) {
        for (const object of page.Contents ?? []) {
          if (object.Key === `${prefix}config` || (object.Key === prefix && prefix !== '')) isRepo = true;
        }
        for (const common of page.CommonPrefixes ?? []) {
          if (common.Prefix === undefined) continue;
          if (common.Prefix === `${prefix}keys/`) isRepo = true;
          folders.push(common.Prefix);
        }
      }
      if (isRepo) yield this.#layout.repoOf(prefix);
      for (const folder of folders) {
        if (isRepo && TYPE_FOLDERS.has(folder.slice(prefix.length, -1))) continue;
        queue.push(folder);
      }
    }
  }

  async close(): Promise<void> {
    this.#parts.clients.destroy();
  }

  /** Pages of a listing; the next page is asked for while the caller works through the current one. */
  async *#pages(prefix: string, delimiter: string | undefined): AsyncIterable<ListObjectsV2CommandOutput> {
    const fetchPage = (token: string | undefined) =>
      this.#client
        .send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        )
        .catch((err: unknown) => {
          throw storageError(err, `list ${prefix || '/'}`);
        });
    let next: Promise<ListObjectsV2CommandOutput> | undefined = fetchPage(undefined);
    try {
      while (next) {
        const page: ListObjectsV2CommandOutput = await next;
        const token = page.IsTruncated ? page.NextContinuationToken : undefined;
        next = token ? fetchPage(token) : undefined;
        yield page;
      }
    } finally {
      // A listing given up early: its prefetched page is nobody's concern.
      next?.catch(() => undefined);
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw storageError(err, `HEAD ${key.slice(this.#layout.base.length) || '/'}`);
    }
  }
}
