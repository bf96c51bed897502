/**
 * The StorageProvider over Drime: the local layout (`<repo>/config`,
 * `<repo>/data/<2 hex>/<name>`, `<repo>/<type>/<name>`) under the workspace root or
 * `root_folder`. Folder ids and folder listings are cached (see folders.ts,
 * listings.ts), so stat/read/exists cost no listing per file; `data/<2 hex>`
 * folders are created on first write. Writes and deletes of one name run one at a
 * time, so a name never gets two entries from us.
 */
import type { Readable } from 'node:stream';
import {
  BLOB_TYPES,
  alreadyExists,
  hasCode,
  notFound,
  StorageErrorCode,
  type BlobType,
  type ByteRange,
  type FileInfo,
  type FileRef,
  type Logger,
  type StorageProvider,
} from '@pyrestserver/core';
import type { DrimeApi } from './api.js';
import { download } from './download.js';
import { isFolder, pick, type Children, type FileEntry, type FolderId } from './entry.js';
import { Folders } from './folders.js';
import { KeyedLock } from './keyed-lock.js';
import { Listings } from './listings.js';
import { repositoriesUnder } from './repositories.js';
import type { Uploader } from './uploader.js';

/** `data/<2 hex>` folders listed at once while `list` yields the previous ones. */
const LIST_AHEAD = 4;
const DATA_SHARD = /^[0-9a-f]{2}$/;
/** Folders listed at once while `repositories` walks the tree. */
const FOLDERS_AT_ONCE = 4;

export interface DrimeProviderParts {
  readonly api: DrimeApi;
  readonly uploader: Uploader;
  readonly logger: Logger;
  /** Path of the folder holding the repositories, `''` for the workspace root. */
  readonly rootFolder: string;
  /** ms a folder listing stays valid. */
  readonly cacheTtl: number;
  /** The clock the cache runs on (epoch ms). */
  readonly now?: () => number;
}

const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

export class DrimeProvider implements StorageProvider {
  readonly #api: DrimeApi;
  readonly #uploader: Uploader;
  readonly #logger: Logger;
  readonly #root: string;
  readonly #listings: Listings;
  readonly #folders: Folders;
  readonly #locks = new KeyedLock();
  readonly #background = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(parts: DrimeProviderParts) {
    this.#api = parts.api;
    this.#uploader = parts.uploader;
    this.#logger = parts.logger;
    this.#root = parts.rootFolder;
    this.#listings = new Listings({
      source: parts.api,
      ttl: parts.cacheTtl,
      ...(parts.now ? { now: parts.now } : {}),
      onIncomplete: (folderId, entries) => this.#inBackground(() => this.#deleteEntries(folderId, entries)),
    });
    this.#folders = new Folders(parts.api, this.#listings);
  }

  async createRepository(repo: string): Promise<void> {
    const path = join(this.#root, repo);
    await this.#folders.ensure(path);
    await Promise.all(BLOB_TYPES.map((type) => this.#folders.ensure(join(path, type))));
  }

  async repositoryExists(repo: string): Promise<boolean> {
    return (await this.#folders.resolve(join(this.#root, repo))) !== undefined;
  }

  async stat(ref: FileRef): Promise<{ size: number }> {
    const { entry } = await this.#find(ref);
    if (!entry) throw notFound(describe(ref));
    return { size: entry.file_size ?? 0 };
  }

  async read(ref: FileRef, range?: ByteRange): Promise<Readable> {
    const { folderId, entry } = await this.#find(ref);
    if (!entry) throw notFound(describe(ref));
    try {
      return await download(this.#api.http, entry.hash, entry.file_size ?? 0, range);
    } catch (err) {
      // Gone behind our back: forget it.
      if (hasCode(err, StorageErrorCode.NOT_FOUND)) this.#listings.remove(folderId!, entry.name, [entry.id]);
      throw err;
    }
  }

  async write(ref: FileRef, body: Readable, size: number): Promise<void> {
    await this.#requireRepository(ref.repo);
    const folderPath = this.#folderPath(ref);
    const name = fileName(ref);
    await this.#locks.run(`${folderPath}/${name}`, async () => {
      const folderId = await this.#folders.ensure(folderPath);
      if (pick((await this.#listings.get(folderId)).get(name), 'file')) throw alreadyExists(describe(ref));
      const entry = await this.#uploader.upload(folderId, name, body, size, () => this.#removeAll(folderId, name));
      this.#listings.add(folderId, entry);
    });
  }

  async *list(repo: string, type: BlobType): AsyncIterable<FileInfo> {
    const typePath = join(await this.#requireRepository(repo), type);
    const typeId = await this.#folders.resolve(typePath);
    if (typeId === undefined) return;
    const children = await this.#listings.refresh(typeId);
    if (type !== 'data') {
      yield* files(children);
      return;
    }
    const shards = [...children.keys()]
      .filter((name) => DATA_SHARD.test(name))
      .sort()
      .map((name) => pick(children.get(name), 'folder'))
      .filter((folder): folder is FileEntry => folder !== undefined);
    const loads: Promise<Children>[] = [];
    const load = (i: number) => {
      if (i < shards.length && !loads[i]) {
        loads[i] = this.#listings.refresh(shards[i]!.id);
        loads[i]!.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
      }
    };
    for (let i = 0; i < shards.length; i++) {
      for (let ahead = i; ahead < i + LIST_AHEAD; ahead++) load(ahead);
      yield* files(await loads[i]!);
    }
  }

  async delete(ref: FileRef): Promise<void> {
    const repoId = await this.#folders.resolve(join(this.#root, ref.repo));
    if (repoId === undefined) return;
    const folderPath = this.#folderPath(ref);
    const name = fileName(ref);
    await this.#locks.run(`${folderPath}/${name}`, async () => {
      const folderId = await this.#folders.resolve(folderPath);
      if (folderId === undefined) return;
      const entriesOf = (children: Children) => (children.get(name) ?? []).filter((e) => !isFolder(e));
      let entries = entriesOf(await this.#listings.get(folderId));
      // Unknown to the cache: restic deletes what it listed, or what a failed upload may have left
      // (which the clean-up could not remove), or what another server wrote: ask Drime.
      if (entries.length === 0) entries = entriesOf(await this.#listings.fresh(folderId));
      await this.#deleteEntries(folderId, entries);
    });
  }

  async *repositories(): AsyncIterable<string> {
    const rootId = await this.#folders.resolve(this.#root);
    if (rootId !== undefined) yield* repositoriesUnder(this.#listings, rootId, FOLDERS_AT_ONCE);
  }

  /** Waits for background clean-ups, then closes the connections. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
      await this.#api.http.close();
    })();
    return this.#closing;
  }

  /** The file's folder and its entry (undefined when missing); NOT_FOUND when the repository is. */
  async #find(ref: FileRef): Promise<{ folderId: FolderId | undefined; entry: FileEntry | undefined }> {
    await this.#requireRepository(ref.repo);
    const folderId = await this.#folders.resolve(this.#folderPath(ref));
    if (folderId === undefined) return { folderId, entry: undefined };
    return { folderId, entry: pick((await this.#listings.get(folderId)).get(fileName(ref)), 'file') };
  }

  /** The repository's folder path; NOT_FOUND when it does not exist. */
  async #requireRepository(repo: string): Promise<string> {
    const path = join(this.#root, repo);
    if ((await this.#folders.resolve(path)) === undefined) throw notFound(`repository ${repo === '' ? '/' : repo}`);
    return path;
  }

  #folderPath(ref: FileRef): string {
    const repoPath = join(this.#root, ref.repo);
    if (ref.type === 'config') return repoPath;
    if (ref.type === 'data') return join(repoPath, 'data', ref.name.slice(0, 2));
    return join(repoPath, ref.type);
  }

  /** Every file entry named `name`, freshly listed (what a failed upload may have left). */
  async #removeAll(folderId: FolderId, name: string): Promise<void> {
    const strays: FileEntry[] = [];
    for await (const entry of this.#api.listFolder(folderId)) {
      if (entry.name === name && !isFolder(entry)) strays.push(entry);
    }
    if (strays.length > 0) this.#logger.warn({ count: strays.length }, `Drime: removing what a failed upload of ${name} left`);
    await this.#deleteEntries(folderId, strays);
  }

  async #deleteEntries(folderId: FolderId, entries: readonly FileEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#api.deleteEntries(entries.map((e) => e.id));
    for (const [name, ids] of groupIds(entries)) this.#listings.remove(folderId, name, ids);
  }

  #inBackground(task: () => Promise<void>): void {
    const running = task()
      .catch((err: Error) => this.#logger.warn({ err: err.message }, 'Drime: background clean-up failed'))
      .finally(() => this.#background.delete(running));
    this.#background.add(running);
  }
}

function* files(children: Children): Generator<FileInfo> {
  for (const [name, group] of children) {
    const entry = pick(group, 'file');
    if (entry) yield { name, size: entry.file_size ?? 0 };
  }
}

function groupIds(entries: readonly FileEntry[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const e of entries) groups.set(e.name, [...(groups.get(e.name) ?? []), e.id]);
  return groups;
}

const fileName = (ref: FileRef) => (ref.type === 'config' ? 'config' : ref.name);
const describe = (ref: FileRef) => (ref.type === 'config' ? `${ref.repo}/config` : `${ref.repo}/${ref.type}/${ref.name}`);
