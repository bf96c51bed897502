import type { Readable } from 'node:stream';

/** The kinds of file a restic repository holds besides its single `config`. */
export const BLOB_TYPES = ['data', 'keys', 'locks', 'snapshots', 'index'] as const;
export type BlobType = (typeof BLOB_TYPES)[number];
/** `config` is a file type of its own: one per repository, always named `config`. */
export type FileType = BlobType | 'config';

/**
 * One file of one repository.
 * - `repo`: the repository path relative to the store root, components joined by `/`,
 *   without leading or trailing slash; `''` is the repository at the root. Core has
 *   already checked every component (no `.`, `..`, empty parts, NUL, `/`, `\`, no leading dot).
 * - `type`: the file type; for `config`, `name` is `'config'`.
 * - `name`: for blob types, 64 lowercase hex characters (checked by core).
 */
export interface FileRef {
  readonly repo: string;
  readonly type: FileType;
  readonly name: string;
}

/** An inclusive byte range, already checked against the file's size by core. */
export interface ByteRange {
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
}

/** What `StorageProvider.open` found: the whole file's size and a stream of the bytes asked for. */
export interface OpenedFile {
  /** The size of the whole file (not of the range). */
  readonly size: number;
  /**
   * The file's bytes from `range.start` to `min(range.end, size - 1)`, or the whole file
   * without a range; empty when the range starts at or after the end (core then answers
   * 416 and destroys a stream). A stream must error, not end early, when the backend fails
   * mid-read. A provider that already holds the bytes (a small range read in one call) may
   * give them as a Uint8Array: core sends them with the headers in one write.
   *
   * A stream may read into buffers of its own that it uses again: it then has a
   * `recycle(chunk)` method (see `RecyclingBody`), which core calls with each chunk the
   * stream gave, once the chunk's bytes have left the process (or can no longer be sent).
   */
  readonly body: Readable | Uint8Array;
}

/**
 * A body stream whose chunks come back to it: after `recycle(chunk)` the server no longer
 * reads `chunk`, and the stream may overwrite its memory. Core calls it at most once per
 * chunk, for chunks it wrote to the client only; a stream read in other ways (e.g. by a
 * test, or through `read()`) never gets its chunks back and must not count on it.
 */
export interface RecyclingBody extends Readable {
  recycle(chunk: Uint8Array): void;
}

export interface FileInfo {
  readonly name: string;
  readonly size: number;
  /**
   * Optional: when the file was stored, in milliseconds since the epoch (a file's mtime, an
   * object's LastModified). Only the per-repository statistics use it (the newest snapshot's
   * time in /metrics and `pyrestserver repos`); listings sent to restic never carry it.
   */
  readonly modified?: number;
}

/**
 * The contract every storage backend implements. All methods are async and
 * stream bodies; none may hold a whole file in memory.
 *
 * Errors: throw an error whose `code` is a `StorageErrorCode` (see `errors.ts`),
 * e.g. `new StorageError(StorageErrorCode.NOT_FOUND, ...)`. Core maps codes to HTTP
 * status; anything else becomes a 500.
 */
export interface StorageProvider {
  /**
   * Create the repository's folders (for local: `data/00`..`data/ff`, `keys`, `locks`,
   * `snapshots`, `index`). Idempotent: succeeds when the repository already exists.
   */
  createRepository(repo: string): Promise<void>;

  /** True when the repository exists (its folder does, with or without `config`). */
  repositoryExists(repo: string): Promise<boolean>;

  /** Size of a file. Throws NOT_FOUND when the file (or its repository) is missing. */
  stat(ref: FileRef): Promise<{ size: number }>;

  /**
   * A stream of the file's bytes, or of `range` only. Throws NOT_FOUND when missing.
   * The stream must error (not end early) when the backend fails mid-read.
   */
  read(ref: FileRef, range?: ByteRange): Promise<Readable>;

  /**
   * Optional: `stat` and `read` in one step. Core calls it, when present, for every GET,
   * instead of `stat` then `read`: on an object store one ranged GET answers with the
   * object's size too, and on a disk one open + fstat replaces a stat and an open.
   * - `range` is what the client asked for before the size is known: `range.end` may lie
   *   past the end of the file (clamp it; `Number.MAX_SAFE_INTEGER` means "to the end").
   * - Throws NOT_FOUND when the file (or its repository) is missing, like `stat`.
   * Plugins without it keep working: core then calls `stat` and `read`.
   */
  open?(ref: FileRef, range?: ByteRange): Promise<OpenedFile>;

  /**
   * Store `body`, which will carry exactly `size` bytes, under `ref`.
   * - Exclusive: throws ALREADY_EXISTS when the file exists (before or after the body).
   * - Atomic: the file becomes visible (stat, read, list) whole, or not at all.
   * - When `body` errors (client hung up, digest mismatch found by core) or carries a
   *   byte count other than `size`, nothing is stored, temporary data is removed, and
   *   write rejects (with INCOMPLETE_BODY for a short or long body, else the body's error).
   * - Throws NOT_FOUND when the repository does not exist.
   * Two concurrent writes of one name: at most one succeeds; the file is never mixed.
   */
  write(ref: FileRef, body: Readable, size: number): Promise<void>;

  /**
   * Name and size of every file of one type. Throws NOT_FOUND when the repository does
   * not exist; yields nothing when the type's folder is missing or empty. Temporary
   * files of in-flight writes are never listed.
   */
  list(repo: string, type: BlobType): AsyncIterable<FileInfo>;

  /** Remove a file. Idempotent: resolves when it is already gone. */
  delete(ref: FileRef): Promise<void>;

  /**
   * Optional: every repository in the store (paths as in `FileRef.repo`).
   * Needed for a total quota (`--max-size`) counted at start-up.
   */
  repositories?(): AsyncIterable<string>;

  /**
   * Optional: every file the store holds, in or out of a repository (a folder without
   * `config` too), with its path relative to the store's root (`/`-joined) and size.
   * When present, quotas over the whole store and over users are counted from it at
   * start, as rest-server counts every file below --path; otherwise from repositories().
   */
  storedFiles?(): AsyncIterable<{ path: string; size: number }>;

  /** Optional: release connections, timers, file handles. Called once on shutdown. */
  close?(): Promise<void>;
}
