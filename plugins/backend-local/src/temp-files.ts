/**
 * Temporary upload files. An upload is first written to `.pyrs-tmp.<unique>.<name>` in
 * the folder of its final name. The leading dot means the name can never be a valid
 * restic file name, so listings skip it and no request can address it.
 *
 * A crash (kill -9, power loss) can leave such files behind. They are harmless (never
 * listed, never read) but take space, so `removeStaleTempFiles` deletes those untouched
 * for a while; it also removes rest-server's own leftovers (`<name>.rest-server-temp<n>`),
 * so a store taken over from rest-server is cleaned as well.
 */
import { randomBytes } from 'node:crypto';
import { stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { DATA_SUBDIRS, isBlobType } from './layout.js';
import { errnoOf } from './fs-errors.js';
import { entriesOf } from './dirs.js';
import { repositoriesUnder } from './listing.js';

const PREFIX = '.pyrs-tmp.';
const PROCESS_TAG = randomBytes(4).toString('hex');
/** Temporary files of this process: never swept, whatever their age. */
const OWN_PREFIX = `${PREFIX}${PROCESS_TAG}-`;
let sequence = 0;

/** A fresh temporary file name for an upload of `name` (unique within this process). */
export const tempNameFor = (name: string): string => `${OWN_PREFIX}${(sequence++).toString(36)}.${name}`;

/** True for temporary upload files of pyrestserver and of rest-server. */
export const isTempName = (entry: string): boolean => entry.startsWith(PREFIX) || entry.includes('.rest-server-temp');

/** Default age after which an untouched temporary file is taken as a crash leftover. */
export const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

export interface SweepOptions {
  /** Minimum age (by mtime) of a file to remove; default one hour. */
  olderThanMs?: number;
  /** The current time, in ms since the epoch. */
  now?: number;
  /** Stops the sweep early (e.g. on shutdown). */
  signal?: AbortSignal;
}

/**
 * Delete temporary upload files not modified for `olderThanMs` in every folder of the store
 * at `root` that can hold them: each repository folder, its type folders and `data/00`..`data/ff`.
 * Files of this process's own uploads are never touched, whatever their age.
 * Resolves to the number of files removed; missing folders are skipped.
 */
export async function removeStaleTempFiles(
  root: string,
  { olderThanMs = STALE_TEMP_AGE_MS, now = Date.now(), signal }: SweepOptions = {},
): Promise<number> {
  let removed = 0;
  const sweep = async (dir: string) => {
    if (signal?.aborted) return;
    for (const { name } of await entriesOf(dir)) {
      if (!isTempName(name) || name.startsWith(OWN_PREFIX)) continue;
      const file = path.join(dir, name);
      try {
        const { mtimeMs } = await stat(file);
        if (now - mtimeMs < olderThanMs) continue;
        await unlink(file);
        removed++;
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
  };
  for await (const repo of repositoriesUnder(root)) {
    if (signal?.aborted) break;
    const repoDir = path.join(root, ...repo.split('/'));
    await sweep(repoDir);
    for (const { name } of await entriesOf(repoDir)) {
      if (!isBlobType(name)) continue;
      const typeDir = path.join(repoDir, name);
      await sweep(typeDir);
      if (name === 'data') for (const sub of DATA_SUBDIRS) await sweep(path.join(typeDir, sub));
    }
  }
  return removed;
}
