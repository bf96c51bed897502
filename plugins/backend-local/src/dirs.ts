/**
 * Folder creation with explicit modes. `mkdir(path, mode)` is subject to the process
 * umask (rest-server relies on it, so `--group-accessible-repos` under umask 022 yields
 * 0750 there); here every folder this backend creates gets its mode with `chmod`, so
 * 0700 / 0770 hold whatever the umask. Folders that already existed are left alone.
 */
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { closeFd, fsyncFd, openFd } from './fd.js';
import { SyncGate } from './sync-gate.js';
import { chmodSync, mkdirSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { errnoOf, isMissing } from './fs-errors.js';

/** Create `dir` (not its parents); true when it was created, false when it existed. */
export async function makeDir(dir: string, mode: number, gate: SyncGate = SyncGate.closed): Promise<boolean> {
  try {
    if (gate.open) gate.run(() => mkdirSync(dir, { mode }));
    else await mkdir(dir, { mode });
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return false;
    throw err;
  }
  if (gate.open) gate.run(() => chmodSync(dir, mode));
  else await chmod(dir, mode);
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
export async function syncDir(dir: string, gate: SyncGate = SyncGate.closed): Promise<void> {
  const fd = await openFd(gate, dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(gate, fd);
  }
}

/** Entries of a folder; none when it is missing. Synchronous with an open `gate`. */
export async function entriesOf(dir: string, gate?: SyncGate): Promise<Dirent[]> {
  try {
    // Not timed by the gate: a large folder takes long on any filesystem (the listing's
    // stats tell a slow one apart).
    if (gate?.open) return readdirSync(dir, { withFileTypes: true });
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
