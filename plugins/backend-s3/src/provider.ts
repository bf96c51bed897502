/**
 * The StorageProvider over one S3 bucket, in restic's own S3 layout (see layout.ts).
 * Reads are one ranged GET (`open` returns the size from Content-Range); lists are
 * ListObjectsV2 pages streamed as they come, the next page asked for while the current
 * one is consumed; uploads are in upload.ts; the requests go through wire.ts. Repositories
 * seen to exist are remembered (they are never removed), so writes and lists cost no extra
 * request; sizes seen are kept a while (size-cache.ts), so a HEAD costs none either.
 */
import { Readable } from 'node:stream';
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
import type { ListPage } from './list-xml.js';
import { SizeCache } from './size-cache.js';
import { upload } from './upload.js';

export interface S3ProviderParts {
  readonly clients: S3Clients;
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly conditionalWrites: boolean;
  readonly storageClass?: string | undefined;
  /** How long (ms) a size seen is answered from memory (0: never). */
  readonly statCacheTtl: number;
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
  readonly #sizes: SizeCache;

  constructor(parts: S3ProviderParts) {
    this.#parts = parts;
    this.#layout = new Layout(parts.prefix);
    this.#sizes = new SizeCache(parts.statCacheTtl);
  }

  get #client() {
    return this.#parts.clients.client;
  }

  get #wire() {
    return this.#parts.clients.wire;
  }

  get #bucket() {
    return this.#parts.bucket;
  }

  async createRepository(repo: string): Promise<void> {
    const marker = this.#layout.marker(repo);
    if (marker !== undefined) {
      try {
        await this.#wire.put(marker, Buffer.alloc(0), 0, {});
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
    const key = this.#layout.key(ref);
    const known = this.#sizes.get(key);
    if (known !== undefined) return { size: known };
    const deletes = this.#sizes.deletes;
    try {
      const size = await this.#wire.head(key);
      this.#sizes.set(key, size, deletes);
      return { size };
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
    const deletes = this.#sizes.deletes;
    let reply;
    try {
      reply = await this.#wire.get(key, header);
    } catch (err) {
      // A range starting at or past the end (an empty file has no byte 0): the size, and no bytes.
      if (isInvalidRange(err)) return { size: (await this.stat(ref)).size, body: Buffer.alloc(0) };
      throw storageError(err, `GET ${label(ref)}`);
    }
    const length = Number(reply.headers['content-length'] ?? Number.NaN);
    const total = /\/(\d+)$/.exec(reply.headers['content-range'] ?? '')?.[1];
    if (range && reply.statusCode !== 206 && !(range.start === 0 && length <= range.end + 1)) {
      reply.destroy();
      throw new StorageError(StorageErrorCode.INTERNAL, `S3 GET ${label(ref)}: the store ignored the Range header`);
    }
    const size = total !== undefined ? Number(total) : length;
    if (!Number.isSafeInteger(size)) {
      reply.destroy();
      throw new StorageError(StorageErrorCode.BACKEND_UNAVAILABLE, `S3 GET ${label(ref)}: the reply has no size`);
    }
    this.#sizes.set(key, size, deletes);
    // Small reads (most of restic's: headers, index and tree blobs) are collected, so core
    // sends them with the reply's headers in one write; larger ones stream.
    if (length <= SMALL_READ) return { size, body: await collect(reply, length, label(ref)) };
    return { size, body: reply };
  }

  async write(ref: FileRef, body: Readable, size: number): Promise<void> {
    if (!(await this.repositoryExists(ref.repo))) throw notFound(repoLabel(ref.repo));
    const key = this.#layout.key(ref);
    const deletes = this.#sizes.deletes;
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
        wire: this.#wire,
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
    this.#sizes.set(key, size, deletes);
  }

  async *list(repo: string, type: BlobType): AsyncIterable<FileInfo> {
    if (!(await this.repositoryExists(repo))) throw notFound(repoLabel(repo));
    const prefix = this.#layout.typePrefix(repo, type);
    // data/ holds data/<2 hex>/<name>; the other types hold their files directly.
    for await (const { page, deletes } of this.#pages(prefix, type === 'data' ? undefined : '/')) {
      for (const object of page.objects) {
        const name = this.#layout.nameOf(object.key, prefix, type);
        if (name === undefined) continue;
        this.#sizes.set(object.key, object.size, deletes);
        yield { name, size: object.size };
      }
    }
  }

  async delete(ref: FileRef): Promise<void> {
    const key = this.#layout.key(ref);
    this.#sizes.delete(key);
    try {
      await this.#wire.delete(key);
    } catch (err) {
      if (isNotFound(err)) return;
      throw storageError(err, `DELETE ${label(ref)}`);
    } finally {
      // Whatever the outcome, the object may be gone.
      this.#sizes.delete(key);
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
      for await (const { page } of this.#pages(prefix, '/')) {
        for (const object of page.objects) {
          if (object.key === `${prefix}config` || (object.key === prefix && prefix !== '')) isRepo = true;
        }
        for (const common of page.prefixes) {
          if (common === `${prefix}keys/`) isRepo = true;
          folders.push(common);
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
    this.#sizes.clear();
    this.#parts.clients.destroy();
  }

  /**
   * Pages of a listing, each with the delete count read before it was asked for (see
   * SizeCache); the next page is asked for while the caller works through the current one.
   */
  async *#pages(prefix: string, delimiter: string | undefined): AsyncIterable<{ page: ListPage; deletes: number }> {
    const fetchPage = (token: string | undefined) => {
      const deletes = this.#sizes.deletes;
      return this.#wire.list(prefix, delimiter, token).then(
        (page) => ({ page, deletes }),
        (err: unknown) => {
          throw storageError(err, `list ${prefix || '/'}`);
        },
      );
    };
    let next: Promise<{ page: ListPage; deletes: number }> | undefined = fetchPage(undefined);
    try {
      while (next) {
        const current: { page: ListPage; deletes: number } = await next;
        const token = current.page.next;
        next = token ? fetchPage(token) : undefined;
        yield current;
      }
    } finally {
      // A listing given up early: its prefetched page is nobody's concern.
      next?.catch(() => undefined);
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.#wire.head(key);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw storageError(err, `HEAD ${key.slice(this.#layout.base.length) || '/'}`);
    }
  }
}
