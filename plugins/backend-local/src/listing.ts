/**
 * Reading folders: the files of one type (with sizes), and the repositories of a store.
 *
 * `data/` spreads its files over 256 subfolders. They are read a few at a time, ahead of
 * the consumer, and their files' sizes are read as the filesystem allows best (see Sizer),
 * so 100,000 blobs list in a fraction of a second while memory stays bounded by the window.
 * Only regular files with a valid restic name are listed: temporary upload files and
 * anything else a person may have put there are skipped.
 */
import { readdirSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setImmediate } from 'node:timers/promises';
import path from 'node:path';
import type { FileInfo } from '@pyrestserver/core';
import { errnoOf, isMissing } from './fs-errors.js';
import { entriesOf } from './dirs.js';
import { isBlobName, isBlobType } from './layout.js';
import type { SyncGate } from './sync-gate.js';
import type { DirCache } from './folder-cache.js';

/** The name of a `data/` subfolder. */
const SHARD = /^[0-9a-f]{2}$/;
/** Subfolders of `data/` being read ahead of the consumer. */
const SUBDIR_WINDOW = 8;
/** Entries handed on at once by a synchronous listing. */
const SYNC_BATCH = 1024;
/** Longest stretch of synchronous stat() calls before the event loop gets a turn. */
const SLICE_MS = 2;
/** Average stat() time above which the filesystem is taken as remote (NFS, FUSE). */
const SLOW_STAT_MS = 0.2;
/** Time spent in synchronous stat() before judging the filesystem. */
const JUDGE_AFTER_MS = 50;
/** stat() calls in flight per folder on such a filesystem. */
const STAT_PARALLELISM = 32;

/**
 * Sizes of files, read the quick way for the filesystem at hand. On a local disk a
 * synchronous stat() costs about a microsecond, while an asynchronous one pays a thread-pool
 * round trip tens of times that, so stats (and readdirs, see `entriesOf`) run synchronously
 * while the provider's SyncGate is open, in slices of at most SLICE_MS across the whole
 * listing, giving the event loop a turn between slices. When stats turn out slow (a network
 * filesystem), the rest of the listing switches to parallel asynchronous stats, which hide
 * latency instead of blocking. One Sizer serves one listing.
 */
class Sizer {
  private slow = false;
  private statCount = 0;
  private statMs = 0;
  private sliceStarted = performance.now();

  constructor(readonly gate: SyncGate, readonly cache?: DirCache) {}

  /** True while this listing may read synchronously. */
  get sync(): boolean {
    return !this.slow && this.gate.open;
  }

  async sizes(dir: string, names: readonly string[]): Promise<FileInfo[]> {
    const infos: FileInfo[] = [];
    let i = 0;
    while (i < names.length && this.sync) {
      const started = performance.now();
      const first = i;
      do {
        const name = names[i++]!;
        // Timed by the slice as a whole (account), not call by call; `dir` is already normalized.
        const st = statSync(`${dir}/${name}`, { throwIfNoEntry: false });
        if (st?.isFile()) infos.push({ name, size: st.size, modified: st.mtimeMs });
      } while (i < names.length && performance.now() - this.sliceStarted < SLICE_MS);
      this.account(i - first, performance.now() - started);
      await this.pause();
    }
    if (i < names.length) infos.push(...(await statInParallel(dir, names.slice(i))));
    return infos;
  }

  /** Give the event loop a turn once the current slice of synchronous work is used up. */
  async pause(): Promise<void> {
    if (performance.now() - this.sliceStarted < SLICE_MS) return;
    await setImmediate();
    this.sliceStarted = performance.now();
  }

  /** Judged on the average over the listing so far, so one hiccup (writeback, a busy CPU) does not count. */
  private account(stats: number, ms: number): void {
    this.statCount += stats;
    this.statMs += ms;
    if (this.statMs >= JUDGE_AFTER_MS && this.statMs / this.statCount > SLOW_STAT_MS) this.slow = true;
  }
}

async function statInParallel(dir: string, names: readonly string[]): Promise<FileInfo[]> {
  const infos: (FileInfo | undefined)[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const name = names[i]!;
      try {
        const st = await stat(path.join(dir, name));
        infos[i] = { name, size: st.size, modified: st.mtimeMs };
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_PARALLELISM, names.length) }, worker));
  return infos.filter((info): info is FileInfo => info !== undefined);
}

/**
 * Name and size of every restic file directly in `dir` (in `data/xx`, only names starting
 * with `xx`: a file elsewhere could not be read by its name). Files removed meanwhile are left out.
 */
async function filesIn(dir: string, sizer: Sizer, prefix = ''): Promise<readonly FileInfo[]> {
  if (sizer.sync) {
    // Asked before the folder is read: a change while reading is not kept (see folder-cache.ts).
    const known = sizer.cache && sizer.gate.run(() => sizer.cache!.open(dir));
    if (sizer.cache && known === undefined) return [];
    if (known && 'files' in known) return known.files;
    // Names only (no Dirent objects): the stat that follows tells files from the rest.
    const names = namesIn(dir).filter((name) => isBlobName(name) && name.startsWith(prefix));
    const files = await sizer.sizes(dir, names);
    if (known && sizer.sync) sizer.cache!.keep(known.ticket, files);
    return files;
  }
  const names = (await entriesOf(dir))
    .filter((e) => e.isFile() && isBlobName(e.name) && e.name.startsWith(prefix))
    .map((e) => e.name);
  return sizer.sizes(dir, names);
}

/** The names in a folder, synchronously; none when it is missing. */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/**
 * Every restic file of a type folder, a folder at a time (for `data`, across its subfolders).
 * Batches, because a value handed through an async generator costs several promise turns,
 * many times more under async hooks; see `flatten`.
 */
export async function* batchesOfType(typeDir: string, sharded: boolean, gate: SyncGate, cache?: DirCache): AsyncGenerator<readonly FileInfo[]> {
  const sizer = new Sizer(gate, cache);
  if (!sharded) {
    yield await filesIn(typeDir, sizer);
    return;
  }
  // An unchanged type folder answers whole (see folder-cache.ts), in batches.
  const whole = cache && gate.run(() => cache.openWhole(typeDir));
  if (whole && 'files' in whole) {
    for (let i = 0; i < whole.files.length; i += SYNC_BATCH) yield whole.files.slice(i, i + SYNC_BATCH);
    return;
  }
  const subdirs = (await entriesOf(typeDir, gate)).filter((e) => e.isDirectory() && SHARD.test(e.name)).map((e) => e.name);
  // What is read, gathered to be kept whole; not past what the cache could keep.
  let all: FileInfo[] | undefined = whole ? [] : undefined;
  const gather = (files: readonly FileInfo[]) => {
    if (!all) return;
    if (all.length + files.length > cache!.maxEntries) all = undefined;
    else for (const f of files) all.push(f);
  };
  let next = 0;
  // Synchronously, one subfolder after another (most are empty or small), in batches.
  let batch: FileInfo[] = [];
  while (next < subdirs.length && sizer.sync) {
    const shard = subdirs[next++]!;
    const files = await filesIn(path.join(typeDir, shard), sizer, shard);
    gather(files);
    for (const f of files) batch.push(f);
    if (batch.length >= SYNC_BATCH) {
      yield batch;
      batch = [];
    }
    await sizer.pause();
  }
  if (batch.length > 0) yield batch;
  // Asynchronously, a window of subfolders read ahead of the consumer.
  const pending: Promise<readonly FileInfo[]>[] = [];
  const refill = () => {
    while (pending.length < SUBDIR_WINDOW && next < subdirs.length) {
      const shard = subdirs[next++]!;
      const listing = filesIn(path.join(typeDir, shard), sizer, shard);
      listing.catch(() => {}); // rejections are raised when awaited below
      pending.push(listing);
    }
  };
  refill();
  while (pending.length > 0) {
    const batch = await pending.shift()!;
    refill();
    gather(batch);
    yield batch;
  }
  if (whole && all) cache.keepWhole(whole.ticket, subdirs, all);
}

/** The items of `batches` one by one, at the cost of one promise per item. */
export function flatten<T>(batches: AsyncIterator<readonly T[]>): AsyncIterableIterator<T> {
  let batch: readonly T[] = [];
  let i = 0;
  return {
    async next(): Promise<IteratorResult<T>> {
      while (i >= batch.length) {
        const r = await batches.next();
        if (r.done) return { done: true, value: undefined };
        batch = r.value;
        i = 0;
      }
      return { done: false, value: batch[i++]! };
    },
    async return(): Promise<IteratorResult<T>> {
      batch = [];
      await batches.return?.(undefined);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Every repository under `root`, as `/`-joined paths relative to it (`''` for the root
 * itself): each folder holding a `config` file. The type folders of a repository are not
 * entered, nor are hidden folders or symbolic links.
 */
export async function* repositoriesUnder(root: string, rel = ''): AsyncGenerator<string> {
  const entries = await entriesOf(path.join(root, ...rel.split('/')));
  const isRepo = entries.some((e) => e.name === 'config' && e.isFile());
  if (isRepo) yield rel;
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    if (isRepo && isBlobType(e.name)) continue;
    yield* repositoriesUnder(root, rel === '' ? e.name : `${rel}/${e.name}`);
  }
}
