/**
 * Folder creation with explicit modes. `mkdir(path, mode)` is subject to the process
 * umask (rest-server relies on it, so `--group-accessible-repos` under umask 022 yields
 * 0750 there); here every folder this backend creates gets its mode with `chmod`, so
 * 0700 / 0770 hold whatever the umask. Folders that already existed are left alone.
 */
import { chmod, mkdir, open, readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import path from 'node:path';
import { errnoOf, isMissing } from './fs-errors.js';

/** Create `dir` (not its parents); true when it was created, false when it existed. */
export async function makeDir(dir: string, mode: number): Promise<boolean> {
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw err;
  }
  await chmod(dir, mode);
  return true;
}

/** Create `dir` and any missing parents, giving each created folder `mode`. */
export async function makeDirs(dir: string, mode: number): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (first === undefined) return;
  // `first` is the topmost folder created; every folder from it down to `dir` is new.
  for (let p = dir; ; p = path.dirname(p)) {
    await chmod(p, mode);
    if (p === first || p === path.dirname(p)) break;
  }
}

/** Flush a folder's entries (a new or removed name) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Entries of a folder; none when it is missing. */
export async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
