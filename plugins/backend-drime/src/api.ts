/**
 * The Drime endpoints the backend uses, one method each, on top of DrimeHttp.
 * Idempotent calls (GET, delete) are retried here; calls that create something
 * make one attempt (`...Once`), and their callers reconcile before trying again.
 */
import { StorageError, StorageErrorCode } from '@pyrestserver/core';
import type { FileEntry, FolderId } from './entry.js';
import { DrimeHttp, type HttpRequest } from './http.js';
import { TransientError } from './retry.js';

interface Paginator {
  data: FileEntry[];
  current_page: number;
  last_page: number;
  total?: number;
}

/** Times a listing starts over when the folder changed while its pages were read. */
const MAX_RELISTS = 3;

export interface MultipartStart {
  key: string;
  uploadId: string;
}

export interface ApiConfig {
  readonly workspaceId: number;
  /** `perPage` asked for listings (Drime may answer with fewer). */
  readonly pageSize: number;
  readonly deleteForever: boolean;
}

export class DrimeApi {
  readonly http: DrimeHttp;
  readonly #config: ApiConfig;

  constructor(http: DrimeHttp, config: ApiConfig) {
    this.http = http;
    this.#config = config;
  }

  get workspaceId(): number {
    return this.#config.workspaceId;
  }

  /**
   * Every entry directly in a folder, following pagination to `last_page`. For the
   * workspace root Drime may answer entries from everywhere: only `parent_id == null` count.
   * Entries are yielded as their pages arrive (a big folder is never held as one reply).
   */
  async *listFolder(folderId: FolderId): AsyncGenerator<FileEntry> {
    // An entry can move to the next page while we read (a new entry ahead of it): yield it once.
    // One deleted ahead of the page we are on moves a later entry back onto a page already read:
    // when the total changes between pages, the pages are read again from the first.
    const seen = new Set<number>();
    let total: unknown;
    for (let page = 1, last = 1, relists = 0; page <= last; page++) {
      const reply = await this.http.json<Paginator>({
        method: 'GET',
        path: '/drive/file-entries',
        query: {
          parentIds: folderId ?? undefined,
          workspaceId: this.#config.workspaceId,
          perPage: this.#config.pageSize,
          page,
        },
      });
      if (!Array.isArray(reply.data)) throw new StorageError(StorageErrorCode.INTERNAL, 'Drime listing without data');
      last = Number(reply.last_page) || 1;
      for (const entry of reply.data) {
        if ((entry.parent_id ?? null) !== folderId || entry.deleted_at || seen.has(entry.id)) continue;
        seen.add(entry.id);
        yield entry;
      }
      if (page === 1) total = reply.total;
      else if (reply.total !== total && relists < MAX_RELISTS) {
        relists++;
        page = 0;
        last = 1;
      }
    }
  }

  /** One attempt at creating a folder (Drime would happily create a second one of the name). */
  async createFolderOnce(name: string, parentId: FolderId): Promise<FileEntry> {
    const reply = await this.http.jsonOnce<{ folder?: FileEntry }>({
      method: 'POST',
      path: '/folders',
      json: { name, ...(parentId !== null ? { parentId } : {}), workspaceId: this.#config.workspaceId },
    });
    return entryOf(reply.folder, 'POST /folders');
  }

  /** One attempt at a `multipart/form-data` upload. */
  async uploadOnce(body: AsyncIterable<Uint8Array>, headers: Record<string, string>): Promise<FileEntry> {
    const reply = await this.http.jsonOnce<{ fileEntry?: FileEntry }>({ method: 'POST', path: '/uploads', body, headers });
    return entryOf(reply.fileEntry, 'POST /uploads');
  }

  multipartCreate(name: string, size: number, parentId: FolderId): Promise<MultipartStart> {
    return this.#onceUnlessRateLimited({
      method: 'POST',
      path: '/s3/multipart/create',
      json: {
        filename: name,
        mime: 'application/octet-stream',
        size,
        extension: '',
        relativePath: name,
        workspaceId: this.#config.workspaceId,
        ...(parentId !== null ? { parentId } : {}),
      },
    });
  }

  /** Presigned URLs of up to 10 parts. */
  async signParts(start: MultipartStart, partNumbers: number[]): Promise<Map<number, string>> {
    const reply = await this.http.json<{ urls?: { partNumber: number; url: string }[] }>({
      method: 'POST',
      path: '/s3/multipart/batch-sign-part-urls',
      json: { ...start, partNumbers },
    });
    return new Map((reply.urls ?? []).map((u) => [Number(u.partNumber), u.url]));
  }

  async multipartComplete(start: MultipartStart, parts: { PartNumber: number; ETag: string }[]): Promise<void> {
    await this.#onceUnlessRateLimited({ method: 'POST', path: '/s3/multipart/complete', json: { ...start, parts } });
  }

  async multipartAbort(start: MultipartStart): Promise<void> {
    await this.http.json({ method: 'POST', path: '/s3/multipart/abort', json: start });
  }

  /** The file entry of a completed multipart upload. */
  async s3Entry(start: MultipartStart, name: string, size: number, parentId: FolderId): Promise<FileEntry> {
    const reply = await this.#onceUnlessRateLimited<{ fileEntry?: FileEntry }>({
      method: 'POST',
      path: '/s3/entries',
      json: {
        clientMime: 'application/octet-stream',
        clientName: name,
        filename: start.key.split('/').pop(),
        size,
        clientExtension: '',
        relativePath: name,
        workspaceId: this.#config.workspaceId,
        ...(parentId !== null ? { parentId } : {}),
      },
    });
    return entryOf(reply.fileEntry, 'POST /s3/entries');
  }

  /** Delete entries (forever unless configured otherwise). Entries already gone are fine. */
  async deleteEntries(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.http.json({
        method: 'POST',
        path: '/file-entries/delete',
        query: { workspaceId: this.#config.workspaceId },
        json: { entryIds: ids, deleteForever: this.#config.deleteForever, workspaceId: this.#config.workspaceId },
      });
    } catch (err) {
      if ((err as { code?: unknown }).code !== StorageErrorCode.NOT_FOUND) throw err;
    }
  }

  async getEntry(id: number): Promise<FileEntry> {
    const reply = await this.http.json<{ fileEntry?: FileEntry }>({
      method: 'GET',
      path: `/file-entries/${id}`,
      query: { workspaceId: this.#config.workspaceId },
    });
    return entryOf(reply.fileEntry, 'GET /file-entries/:id');
  }

  /** The key's user, or null when Drime does not know the key. */
  async loggedUser(): Promise<Record<string, unknown> | null> {
    const reply = await this.http.json<{ user?: Record<string, unknown> | null }>({ method: 'GET', path: '/cli/loggedUser' });
    return reply.user ?? null;
  }

  spaceUsage(): Promise<{ used: number; available: number }> {
    return this.http.json({ method: 'GET', path: '/user/space-usage' });
  }

  /**
   * A call that creates something: retried only after 429 (Drime did nothing);
   * any other transient failure is final, since the call may have taken effect.
   */
  #onceUnlessRateLimited<T>(request: HttpRequest): Promise<T> {
    return this.http.retrying(request, async (n) => {
      try {
        return await this.http.jsonOnce<T>(request);
      } catch (err) {
        if (err instanceof TransientError && !err.rateLimited) throw this.http.unavailable(request, err, n + 1);
        throw err;
      }
    });
  }
}

function entryOf(entry: FileEntry | undefined, what: string): FileEntry {
  if (!entry || typeof entry.id !== 'number') throw new StorageError(StorageErrorCode.INTERNAL, `${what}: reply without an entry`);
  return entry;
}
