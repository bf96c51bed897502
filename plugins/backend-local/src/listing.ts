/**
 * Reading folders: the files of one type (with sizes), and the repositories of a store.
 *
 * `data/` spreads its files over 256 subfolders. They are read a few at a time, ahead of
 * the consumer, and the files of each are stat'ed with bounded parallelism, so 100,000
 * blobs list in a fraction of a second while memory stays bounded by the window.
 * Only regular files with a valid restic name are listed: temporary upload files and
 * anything else a person may have put there are skipped.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FileInfo } from '@pyrestserver/core';
import { errnoOf } from './fs-errors.js';
import { entriesOf } from './dirs.js';
import { isBlobName, isBlobType } from './layout.js';

/** Subfolders of `data/` being read ahead of the consumer. */
const SUBDIR_WINDOW = 8;
/** stat() calls in flight per folder. */
const STAT_PARALLELISM = 32;

/** Name and size of every restic file directly in `dir`. Files removed meanwhile are left out. */
export async function filesIn(dir: string): Promise<FileInfo[]> {
  const names = (await entriesOf(dir)).filter((e) => e.isFile() && isBlobName(e.name)).map((e) => e.name);
  const infos: (FileInfo | undefined)[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const name = names[i]!;
      try {
        infos[i] = { name, size: (await stat(path.join(dir, name))).size };
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_PARALLELISM, names.length) }, worker));
  return infos.filter((info): info is FileInfo => info !== undefined);
}

/** Every restic file of a type folder; for `data`, across its subfolders. */
export async function* filesOfType(typeDir: string, sharded: boolean): AsyncGenerator<FileInfo> {
  if (!sharded) {
    yield* await filesIn(typeDir);
    return;
  }
  const subdirs = (await entriesOf(typeDir)).filter((e) => e.isDirectory()).map((e) => path.join(typeDir, e.name));
  const pending: Promise<FileInfo[]>[] = [];
  let next = 0;
  const refill = () => {
    while (pending.length < SUBDIR_WINDOW && next < subdirs.length) {
      const listing = filesIn(subdirs[next++]!);
      listing.catch(() => {}); // rejections are raised when awaited below
      pending.push(listing);
    }
  };
  refill();
  while (pending.length > 0) {
    const batch = await pending.shift()!;
    refill();
    yield* batch;
  }
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
