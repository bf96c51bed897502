/**
 * The local-disk StorageProvider: rest-server 0.14's on-disk layout and behaviour
 * (see layout.ts for paths, atomic-write.ts for uploads, listing.ts for listings).
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  alreadyExists,
  BLOB_TYPES,
  largeBuffers,
  notFound,
  StorageError,
  StorageErrorCode,
  type BlobType,
  type ByteRange,
  type FileInfo,
  type FileRef,
  type OpenedFile,
  type StorageProvider,
} from '@pyrestserver/core';
import { writeAtomic } from './atomic-write.js';
import { makeDir, makeDirs } from './dirs.js';
import { errnoOf, fsError, isMissing } from './fs-errors.js';
import { ChunkPool } from './chunk-pool.js';
import { closeFd, FileRangeStream, fstatFd, openFd, readAt, statOrUndefined, unlinkPath } from './fd.js';
import { SyncGate } from './sync-gate.js';
import { DATA_SUBDIRS, Layout, modesFor, type Modes } from './layout.js';
import { batchesOfType, flatten, repositoriesUnder } from './listing.js';
import { DirCache } from './folder-cache.js';
import { removeStaleTempFiles, type SweepOptions } from './temp-files.js';
import { storedFilesUnder } from './usage.js';

export interface LocalProviderOptions {
  /** The data directory (rest-server's `--path`). */
  root: string;
  /** `--group-accessible-repos`: folders 0770 and files 0660 instead of 0700 / 0600. */
  groupAccessible?: boolean;
}

/** Ranges up to this many bytes are read in one call into one buffer. */
const SMALL_READ = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** How files are named in error messages: by their place in the repository, never by host path. */
const inRepo = (repo: string, rest: string) => (repo === '' ? rest : `${repo}/${rest}`);
const describe = (ref: FileRef) => inRepo(ref.repo, ref.type === 'config' ? 'config' : `${ref.type}/${ref.name}`);

export class LocalProvider implements StorageProvider {
  readonly layout: Layout;
  readonly modes: Modes;
  private readonly shutdown = new AbortController();
  private readonly background = new Set<Promise<unknown>>();
  /** Whether small filesystem calls run synchronously right now (see sync-gate.ts). */
  readonly gate = new SyncGate();
  /** Read buffers of large GETs (512 KiB: fewer reads for pack files), used again once sent; from core's shared pool. */
  readonly #readBuffers = new ChunkPool(largeBuffers);
  /** Listings of unchanged folders (see folder-cache.ts): at most 100,000 files, about 20 MiB. Not a
   * `#` field: wrappers made with `Object.create(provider)` (tests, decorating plugins) call these methods. */
  private readonly listings = new DirCache(100_000);

  constructor(options: LocalProviderOptions) {
    this.layout = new Layout(options.root);
    this.modes = modesFor(options.groupAccessible ?? false);
  }

  async createRepository(repo: string): Promise<void> {
    const repoDir = this.layout.repoDir(repo);
    try {
      await makeDirs(repoDir, this.modes.dir);
      await Promise.all(BLOB_TYPES.map((type) => makeDir(path.join(repoDir, type), this.modes.dir, this.gate)));
      const dataDir = path.join(repoDir, 'data');
      await Promise.all(DATA_SUBDIRS.map((sub) => makeDir(path.join(dataDir, sub), this.modes.dir, this.gate)));
    } catch (err) {
      throw fsError(err, `create repository ${JSON.stringify(repo)}`);
    }
  }

  async repositoryExists(repo: string): Promise<boolean> {
    return this.isDir(this.layout.repoDir(repo));
  }

  async stat(ref: FileRef): Promise<{ size: number }> {
    const { file } = this.layout.locate(ref);
    let st;
    try {
      st = await statOrUndefined(this.gate, file);
    } catch (err) {
      throw fsError(err, `stat ${describe(ref)}`);
    }
    if (!st?.isFile()) throw notFound(describe(ref));
    return { size: st.size };
  }

  /**
   * One open + fstat, then the bytes: a small range is read at once into one buffer (restic
   * loads most blobs with small ranged GETs), a larger one is streamed from the same descriptor.
   */
  async open(ref: FileRef, range?: ByteRange): Promise<OpenedFile> {
    const { file } = this.layout.locate(ref);
    const what = `read ${describe(ref)}`;
    let fd: number;
    try {
      fd = await openFd(this.gate, file, 'r');
    } catch (err) {
      throw fsError(err, what);
    }
    let streaming = false;
    try {
      const st = await fstatFd(this.gate, fd);
      if (!st.isFile()) throw notFound(describe(ref));
      const size = st.size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      if (start > end) return { size, body: EMPTY };
      const length = end - start + 1;
      if (length <= SMALL_READ) {
        const bytes = await readAt(this.gate, fd, length, start);
        if (bytes.length !== length) throw new StorageError(StorageErrorCode.INTERNAL, `${what}: file shorter than its size`);
        return { size, body: bytes };
      }
      streaming = true;
      return { size, body: new FileRangeStream(fd, start, end, this.gate, this.#readBuffers) };
    } catch (err) {
      throw fsError(err, what);
    } finally {
      if (!streaming) await Promise.resolve(closeFd(this.gate, fd)).catch(() => {});
    }
  }

  async read(ref: FileRef, range?: ByteRange): Promise<Readable> {
    const { body } = await this.open(ref, range);
    return body instanceof Readable ? body : Readable.from([body], { objectMode: false });
  }

  async write(ref: FileRef, body: Readable, size: number): Promise<void> {
    const { dir, file } = this.layout.locate(ref);
    const what = `write ${describe(ref)}`;
    // Answer a duplicate before reading a possibly large body; link() still decides races.
    const exists = await this.isFile(file).catch((err: unknown) => {
      throw fsError(err, what);
    });
    if (exists) throw alreadyExists(describe(ref));
    try {
      await writeAtomic({
        dir,
        name: ref.name,
        body,
        size,
        mode: this.modes.file,
        prepareDir: () => this.prepareDir(ref.repo, dir),
        gate: this.gate,
      });
    } catch (err) {
      if (err === body.errored) throw err; // the body's own failure, as is
      throw fsError(err, what);
    }
    this.listings.changed(dir);
  }

  list(repo: string, type: BlobType): AsyncIterable<FileInfo> {
    return flatten(this.listBatches(repo, type));
  }

  private async *listBatches(repo: string, type: BlobType): AsyncGenerator<readonly FileInfo[]> {
    const typeDir = this.layout.typeDir(repo, type);
    if (!(await this.isDir(path.dirname(typeDir)))) throw notFound(`repository ${JSON.stringify(repo)}`);
    try {
      yield* batchesOfType(typeDir, type === 'data', this.gate, this.listings);
    } catch (err) {
      throw fsError(err, `list ${inRepo(repo, type)}`);
    }
  }

  async delete(ref: FileRef): Promise<void> {
    const { dir, file } = this.layout.locate(ref);
    try {
      // Always through the thread pool: an unlink costs ~100 µs on ext4 (its journal), an 8 MiB
      // file's some milliseconds (freeing its blocks), more than the round trip; judged with
      // the other calls, large deletes closed the gate for every read (docs/benchmarks.md).
      await unlinkPath(SyncGate.closed, file);
      this.listings.changed(dir);
    } catch (err) {
      // A folder under a file's name is no file (stat and read say NOT_FOUND): nothing to delete,
      // and folders are never removed through the protocol.
      if (isMissing(err) || errnoOf(err) === 'EISDIR') return;
      throw fsError(err, `delete ${describe(ref)}`);
    }
  }

  async *repositories(): AsyncGenerator<string> {
    yield* repositoriesUnder(this.layout.root);
  }

  storedFiles(): AsyncIterable<{ path: string; size: number }> {
    return storedFilesUnder(this.layout.root);
  }

  /**
   * Remove, in the background, temporary upload files a crash left behind (see
   * temp-files.ts). Resolves to the number removed; `close()` stops and awaits it.
   */
  sweepStaleTempFiles(options: Omit<SweepOptions, 'signal'> = {}): Promise<number> {
    const run = removeStaleTempFiles(this.layout.root, { ...options, signal: this.shutdown.signal });
    this.background.add(run);
    const forget = () => this.background.delete(run);
    run.then(forget, forget);
    return run;
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    this.listings.clear();
    await Promise.allSettled(this.background);
  }

  /** A missing type folder (or `data/xx`) of an existing repository is created, as rest-server does. */
  private async prepareDir(repo: string, dir: string): Promise<void> {
    const repoDir = this.layout.repoDir(repo);
    if (dir === repoDir || !(await this.isDir(repoDir))) throw notFound(`repository ${JSON.stringify(repo)}`);
    // `dir` is `{repo}/{type}` or `{repo}/data/{xx}`.
    if (path.dirname(dir) !== repoDir) await makeDir(path.dirname(dir), this.modes.dir, this.gate);
    await makeDir(dir, this.modes.dir, this.gate);
  }

  private async isDir(p: string): Promise<boolean> {
    return (await this.statOrUndefined(p))?.isDirectory() ?? false;
  }

  private async isFile(p: string): Promise<boolean> {
    return (await this.statOrUndefined(p))?.isFile() ?? false;
  }

  private statOrUndefined(p: string) {
    return statOrUndefined(this.gate, p);
  }
}
