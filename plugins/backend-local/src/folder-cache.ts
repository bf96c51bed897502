/**
 * Listings of folders kept while they are unchanged, so that listing a repository again reads
 * neither its folders nor a stat per file. (restic's files are never changed in place: what is
 * stored is named by its hash, so a folder's names and sizes change only when it does.)
 *
 * How a kept folder is known to be unchanged:
 * - **watched** (a local filesystem: ext4, XFS, Btrfs, tmpfs, ZFS, ...): the kernel reports any
 *   change to the folder (inotify, through `fs.watch`), and the first report drops the folder
 *   and its watch. The watch is set before the folder is read, so no change is missed; asking
 *   nothing per listing is what makes a kept listing cheap (a `stat` per `data/xx` folder was a
 *   third of a small repository's listing, docs/benchmarks.md). Changes made through this
 *   provider drop the folder at once (`changed`); a change by another process is reported by
 *   the kernel before anything that process did afterwards reaches this one.
 * - **stamped** (network and FUSE filesystems, where inotify sees only this machine's changes,
 *   or when the kernel refuses more watches): by the folder's inode, mtime and ctime, checked on
 *   every listing. A folder is kept only when its times lie `settledMs` in the past when it is
 *   read: a change within the same tick of a coarse filesystem clock (FAT counts in 2 s) could
 *   otherwise leave the times as they were (git's "racy clean" rule).
 *
 * A sharded type folder (`data/` and its 256 subfolders) is also kept whole (`openWhole`):
 * one array for the listing, while `data/` itself and each of its subfolders are watched and
 * unchanged, so a listing of an unchanged repository is one lookup instead of one per
 * subfolder (those lookups, a `readdir` of `data/` and their garbage were most of a small
 * listing's CPU once the stats were gone).
 *
 * At most `maxEntries` files and `maxWatches` watched folders are kept, the folders used least
 * recently dropped first; at most MAX_WHOLE whole listings.
 */
import { statfsSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { FileInfo } from '@pyrestserver/core';
import { errnoOf, isMissing } from './fs-errors.js';

/** A folder's modification time must be at least this old before its stamped listing is kept. */
const SETTLED_MS = 3000;
/** Watched folders at most: a repository's listing uses 261 (`data/00`..`ff` and the others). */
const MAX_WATCHES = 4096;
/** Whole listings of sharded type folders kept at most (they share the subfolders' entries). */
const MAX_WHOLE = 64;
/** After the kernel refused a watch (its per-user limit), folders are stamped for this long. */
const NO_WATCHES_FOR_MS = 60_000;

/**
 * Filesystems (statfs `f_type`) whose every change inotify reports: local ones. NFS, SMB,
 * Ceph, FUSE and the like are not here: a change made on another machine goes unreported.
 */
const LOCAL_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // XFS
  0x9123683e, // Btrfs
  0x01021994, // tmpfs
  0x2fc12fc1, // ZFS
  0xf2f52010, // F2FS
  0xca451a4e, // bcachefs
  0x3153464a, // JFS
  0x52654973, // ReiserFS
]);

interface Folder {
  files?: readonly FileInfo[];
  /** Watched: dropped by the first change reported. */
  watcher?: FSWatcher;
  /** Stamped: kept while the folder's stamp is this. */
  stamp?: string;
}

/** What `open` tells of a folder: its kept files, or a ticket to keep what is read now. */
export type Lookup = { files: readonly FileInfo[] } | { ticket: Ticket };
export interface Ticket {
  readonly dir: string;
  /** The record that the read fills, or for a stamped folder the stamp (unsettled: none). */
  readonly folder?: Folder;
  readonly stamp?: string;
}

/** A sharded type folder's whole listing; `generation` rises with every change to it or a subfolder. */
interface Whole {
  generation: number;
  files?: readonly FileInfo[];
  watcher?: FSWatcher;
}

/** What `openWhole` gives when there is no whole listing to answer with. */
export interface WholeTicket {
  readonly typeDir: string;
  readonly whole: Whole;
  readonly generation: number;
}

export class DirCache {
  readonly #folders = new Map<string, Folder>();
  readonly #wholes = new Map<string, Whole>();
  readonly #maxEntries: number;
  readonly #settledMs: number;
  readonly #maxWatches: number;
  readonly #mayWatch: boolean;
  #entries = 0;
  #watches = 0;
  #noWatchesUntil = 0;

  constructor(maxEntries: number, { settledMs = SETTLED_MS, maxWatches = MAX_WATCHES, watch = true } = {}) {
    this.#maxEntries = maxEntries;
    this.#settledMs = settledMs;
    this.#maxWatches = maxWatches;
    this.#mayWatch = watch;
  }

  /** The kept listing of `dir`, or a ticket for `keep`; undefined when the folder is missing. */
  open(dir: string): Lookup | undefined {
    const kept = this.#folders.get(dir);
    if (kept?.watcher) {
      if (!kept.files) return { ticket: { dir, folder: kept } }; // read before, too large to keep
      this.#folders.delete(dir); // the most recently used, last
      this.#folders.set(dir, kept);
      return { files: kept.files };
    }
    const watched = this.#watch(dir);
    if (watched === null) return undefined;
    if (watched) return { ticket: { dir, folder: watched } };
    const st = statSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return undefined;
    const stamp = `${st.ino}:${st.mtimeMs}:${st.ctimeMs}`;
    if (kept?.stamp === stamp) {
      this.#folders.delete(dir);
      this.#folders.set(dir, kept);
      return { files: kept.files! };
    }
    if (kept) this.#drop(dir, kept);
    const settled = Math.max(st.mtimeMs, st.ctimeMs) < Date.now() - this.#settledMs;
    return { ticket: settled ? { dir, stamp } : { dir } };
  }

  /** Keep `files`, read from the folder after `open` gave `ticket`, unless it changed meanwhile. */
  keep(ticket: Ticket, files: readonly FileInfo[]): void {
    const { dir, folder } = ticket;
    if (folder) {
      if (this.#folders.get(dir) !== folder || folder.files) return; // changed meanwhile
      if (files.length > this.#maxEntries) return;
      this.#makeRoom(files.length);
      if (this.#folders.get(dir) !== folder) return; // made room by dropping this very folder
      folder.files = files;
    } else {
      if (ticket.stamp === undefined || files.length > this.#maxEntries) return;
      this.#makeRoom(files.length);
      this.#folders.set(dir, { files, stamp: ticket.stamp });
    }
    this.#entries += files.length;
  }

  /**
   * The kept whole listing of the sharded type folder `typeDir` (normalized, no trailing `/`),
   * or a ticket for `keepWhole`; undefined when whole listings cannot be kept (not watched).
   * The folder is watched from here on, before its subfolders are read.
   */
  openWhole(typeDir: string): { files: readonly FileInfo[] } | { ticket: WholeTicket } | undefined {
    let whole = this.#wholes.get(typeDir);
    if (whole?.files) return { files: whole.files };
    if (!whole) {
      if (!this.#mayWatchNow() || !LOCAL_FILESYSTEMS.has(this.#fsType(typeDir) ?? -1)) return undefined;
      const created: Whole = { generation: 0 };
      const watcher = this.#watchOrFalse(typeDir, () => this.#dropWhole(typeDir, created));
      if (!watcher) return undefined;
      created.watcher = watcher;
      whole = created;
      this.#wholes.set(typeDir, whole);
      this.#watches++;
      if (this.#wholes.size > MAX_WHOLE) {
        const [oldest] = this.#wholes.keys();
        this.#dropWhole(oldest!, this.#wholes.get(oldest!)!);
      }
    }
    return { ticket: { typeDir, whole, generation: whole.generation } };
  }

  /**
   * Keep `files` as the whole listing of the ticket's type folder, read from `subdirs`, when
   * nothing changed since `openWhole` and every subfolder is watched and kept.
   */
  keepWhole(ticket: WholeTicket, subdirs: readonly string[], files: readonly FileInfo[]): void {
    const { typeDir, whole, generation } = ticket;
    if (this.#wholes.get(typeDir) !== whole || whole.generation !== generation || whole.files) return;
    if (files.length > this.#maxEntries) return;
    for (const sub of subdirs) {
      const kept = this.#folders.get(`${typeDir}/${sub}`);
      if (!kept?.watcher || !kept.files) return;
    }
    whole.files = files;
  }

  /** This process changed `dir` (a file added or removed): its listing is read again. */
  changed(dir: string): void {
    const kept = this.#folders.get(dir);
    if (kept) this.#drop(dir, kept);
    else this.#touchWhole(dir.slice(0, dir.lastIndexOf('/'))); // a new subfolder, say
  }

  /** Files kept at most. */
  get maxEntries(): number {
    return this.#maxEntries;
  }

  /** Files kept, for tests. */
  get entries(): number {
    return this.#entries;
  }

  /** Folders watched, for tests. */
  get watches(): number {
    return this.#watches;
  }

  /** Drop every folder and its watch (the provider's close). */
  clear(): void {
    for (const [dir, kept] of this.#folders) this.#drop(dir, kept);
    for (const [typeDir, whole] of this.#wholes) this.#dropWhole(typeDir, whole);
  }

  /**
   * A new watched record for `dir`, in the map; false when the folder is to be stamped instead,
   * null when it is missing.
   */
  #watch(dir: string): Folder | false | null {
    if (!this.#mayWatchNow()) return false;
    const type = this.#fsType(dir);
    if (type === undefined) return null;
    if (!LOCAL_FILESYSTEMS.has(type)) return false;
    const folder: Folder = {};
    const watcher = this.#watchOrFalse(dir, () => this.#drop(dir, folder));
    if (!watcher) return watcher;
    folder.watcher = watcher;
    const old = this.#folders.get(dir);
    if (old) this.#drop(dir, old);
    this.#folders.set(dir, folder);
    if (++this.#watches > this.#maxWatches) this.#evict(() => this.#watches > this.#maxWatches, (f) => f.watcher !== undefined);
    return folder;
  }

  #mayWatchNow(): boolean {
    return this.#mayWatch && Date.now() >= this.#noWatchesUntil;
  }

  /** The filesystem type of `dir` (statfs), undefined when it is missing. */
  #fsType(dir: string): number | undefined {
    try {
      return statfsSync(dir).type;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** A watch on `dir` calling `onChange` (also on its errors); null when `dir` is missing, false when the kernel refuses more watches. */
  #watchOrFalse(dir: string, onChange: () => void): FSWatcher | false | null {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, onChange);
    } catch (err) {
      if (isMissing(err)) return null;
      // ENOSPC: the user's inotify watches (fs.inotify.max_user_watches) are used up; EMFILE: its instances.
      if (errnoOf(err) === 'ENOSPC' || errnoOf(err) === 'EMFILE') {
        this.#noWatchesUntil = Date.now() + NO_WATCHES_FOR_MS;
        return false;
      }
      throw err;
    }
    watcher.on('error', onChange);
    return watcher;
  }

  #makeRoom(files: number): void {
    this.#evict(() => this.#entries + files > this.#maxEntries);
  }

  /** Drop least recently used folders (those `which` picks) while `tooMany()`. */
  #evict(tooMany: () => boolean, which: (folder: Folder) => boolean = () => true): void {
    for (const [dir, kept] of this.#folders) {
      if (!tooMany()) break;
      if (which(kept)) this.#drop(dir, kept);
    }
  }

  #drop(dir: string, folder: Folder): void {
    if (this.#folders.get(dir) !== folder) return;
    this.#folders.delete(dir);
    this.#entries -= folder.files?.length ?? 0;
    if (folder.watcher) {
      folder.watcher.close();
      this.#watches--;
    }
    this.#touchWhole(dir.slice(0, dir.lastIndexOf('/')));
  }

  /** A subfolder of `typeDir` changed: its whole listing, if any, is read again. */
  #touchWhole(typeDir: string): void {
    const whole = this.#wholes.get(typeDir);
    if (!whole) return;
    whole.generation++;
    whole.files = undefined;
  }

  #dropWhole(typeDir: string, whole: Whole): void {
    if (this.#wholes.get(typeDir) !== whole) return;
    this.#wholes.delete(typeDir);
    whole.files = undefined;
    whole.generation++;
    whole.watcher?.close();
    this.#watches--;
  }
}
