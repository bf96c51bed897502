/**
 * The local-disk StorageProvider: rest-server 0.14's on-disk layout and behaviour
 * (see layout.ts for paths, atomic-write.ts for uploads, listing.ts for listings).
 */
import { open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  alreadyExists,
  BLOB_TYPES,
  notFound,
  StorageError,
  StorageErrorCode,
  type BlobType,
  type ByteRange,
  type FileInfo,
  type FileRef,
  type StorageProvider,
} from '@pyrestserver/core';
import { writeAtomic } from './atomic-write.js';
import { makeDir, makeDirs } from './dirs.js';
import { errnoOf, fsError, isMissing } from './fs-errors.js';
import { DATA_SUBDIRS, Layout, modesFor, type Modes } from './layout.js';
import { batchesOfType, flatten, repositoriesUnder } from './listing.js';
import { removeStaleTempFiles, type SweepOptions } from './temp-files.js';

export interface LocalProviderOptions {
  /** The data directory (rest-server's `--path`). */
  root: string;
  /** `--group-accessible-repos`: folders 0770 and files 0660 instead of 0700 / 0600. */
  groupAccessible?: boolean;
}

/** Read buffer size: fewer reads for large pack files, still small per connection. */
const READ_CHUNK = 256 * 1024;
/** Ranges up to this many bytes are read in one call into one buffer. */
const SMALL_READ = 64 * 1024;

/** How files are named in error messages: by their place in the repository, never by host path. */
const inRepo = (repo: string, rest: string) => (repo === '' ? rest : `${repo}/${rest}`);
const describe = (ref: FileRef) => inRepo(ref.repo, ref.type === 'config' ? 'config' : `${ref.type}/${ref.name}`);

export class LocalProvider implements StorageProvider {
  readonly layout: Layout;
  readonly modes: Modes;
  private readonly shutdown = new AbortController();
  private readonly background = new Set<Promise<unknown>>();

  constructor(options: LocalProviderOptions) {
    this.layout = new Layout(options.root);
    this.modes = modesFor(options.groupAccessible ?? false);
  }

  async createRepository(repo: string): Promise<void> {
    const repoDir = this.layout.repoDir(repo);
    try {
      await makeDirs(repoDir, this.modes.dir);
      await Promise.all(BLOB_TYPES.map((type) => makeDir(path.join(repoDir, type), this.modes.dir)));
      const dataDir = path.join(repoDir, 'data');
      await Promise.all(DATA_SUBDIRS.map((sub) => makeDir(path.join(dataDir, sub), this.modes.dir)));
    } catch (err) {
      throw fsError(err, `create repository ${JSON.stringify(repo)}`);
    }
  }

  async repositoryExists(repo: string): Promise<boolean> {
    return this.isDir(this.layout.repoDir(repo));
  }

  async stat(ref: FileRef): Promise<{ size: number }> {
    const { file } = this.layout.locate(ref);
    try {
      const st = await stat(file);
      if (!st.isFile()) throw notFound(describe(ref));
      return { size: st.size };
    } catch (err) {
      throw fsError(err, `stat ${describe(ref)}`);
    }
  }

  async read(ref: FileRef, range?: ByteRange): Promise<Readable> {
    const { file } = this.layout.locate(ref);
    // Open first: a missing file is a NOT_FOUND rejection, not a stream that errors later.
    const handle = await open(file, 'r').catch((err) => {
      throw fsError(err, `read ${describe(ref)}`);
    });
    if (range && range.end - range.start < SMALL_READ) {
      // restic loads most blobs with small ranged GETs: one pread beats a stream's machinery.
      try {
        const length = range.end - range.start + 1;
        const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, range.start);
        if (bytesRead !== length) throw new StorageError(StorageErrorCode.INTERNAL, `read ${describe(ref)}: file shorter than the range`);
        return Readable.from([buffer], { objectMode: false });
      } catch (err) {
        throw fsError(err, `read ${describe(ref)}`);
      } finally {
        await handle.close();
      }
    }
    return handle.createReadStream({
      highWaterMark: READ_CHUNK,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async write(ref: FileRef, body: Readable, size: number): Promise<void> {
    const { dir, file } = this.layout.locate(ref);
    const what = `write ${describe(ref)}`;
    // Answer a duplicate before reading a possibly large body; link() still decides races.
    const exists = await this.isFile(file).catch((err) => {
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
      });
    } catch (err) {
      if (err === body.errored) throw err; // the body's own failure, as is
      throw fsError(err, what);
    }
  }

  list(repo: string, type: BlobType): AsyncIterable<FileInfo> {
    return flatten(this.listBatches(repo, type));
  }

  private async *listBatches(repo: string, type: BlobType): AsyncGenerator<FileInfo[]> {
    const typeDir = this.layout.typeDir(repo, type);
    if (!(await this.isDir(path.dirname(typeDir)))) throw notFound(`repository ${JSON.stringify(repo)}`);
    try {
      yield* batchesOfType(typeDir, type === 'data');
    } catch (err) {
      throw fsError(err, `list ${inRepo(repo, type)}`);
    }
  }

  async delete(ref: FileRef): Promise<void> {
    const { file } = this.layout.locate(ref);
    try {
      await unlink(file);
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
    await Promise.allSettled(this.background);
  }

  /** A missing type folder (or `data/xx`) of an existing repository is created, as rest-server does. */
  private async prepareDir(repo: string, dir: string): Promise<void> {
    const repoDir = this.layout.repoDir(repo);
    if (dir === repoDir || !(await this.isDir(repoDir))) throw notFound(`repository ${JSON.stringify(repo)}`);
    // `dir` is `{repo}/{type}` or `{repo}/data/{xx}`.
    if (path.dirname(dir) !== repoDir) await makeDir(path.dirname(dir), this.modes.dir);
    await makeDir(dir, this.modes.dir);
  }

  private async isDir(p: string): Promise<boolean> {
    return (await this.statOrUndefined(p))?.isDirectory() ?? false;
  }

  private async isFile(p: string): Promise<boolean> {
    return (await this.statOrUndefined(p))?.isFile() ?? false;
  }

  private async statOrUndefined(p: string) {
    try {
      return await stat(p);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }
}
