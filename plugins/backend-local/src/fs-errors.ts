/**
 * Filesystem errors as core storage errors: ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS,
 * ENOSPC / EDQUOT -> INSUFFICIENT_STORAGE, anything else -> INTERNAL. The mapping itself is
 * core's (`storageCodeOf`); this only gives the error a message that names the file by its
 * repository reference rather than by a host path, and keeps the errno error as `cause`.
 */
import { StorageError, storageCodeOf } from '@pyrestserver/core';

/** The errno code of a Node system error, if it has one. */
export const errnoOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** True for "no such file": the path, or a folder on the way to it, does not exist. */
export const isMissing = (err: unknown): boolean => {
  const errno = errnoOf(err);
  return errno === 'ENOENT' || errno === 'ENOTDIR';
};

/** Wrap a filesystem error raised while doing `what` (e.g. `write data/ab12…`). */
export function fsError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const errno = errnoOf(err) ?? 'unknown error';
  return new StorageError(storageCodeOf(err), `${what}: ${errno}`, { cause: err });
}
