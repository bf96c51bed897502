import type { FileType } from '../storage/types.js';

/** What a request is about to do to the store. */
export type Operation = 'create' | 'stat' | 'read' | 'write' | 'list' | 'delete';

export interface Access {
  readonly op: Operation;
  /** The authenticated user, undefined with --no-auth. */
  readonly user: string | undefined;
  readonly repo: string;
  /** Undefined for `create` (the repository itself). */
  readonly type?: FileType;
  /** File name; undefined for `create` and `list`. */
  readonly name?: string;
  /** For `write`: the announced Content-Length. */
  readonly size?: number;
}

/**
 * A policy wraps every storage operation without knowing the backend.
 * `authorize` runs before the provider is called (and, for uploads, before the
 * body is read); it throws an error with a storage error code to refuse
 * (FORBIDDEN -> 403, INSUFFICIENT_STORAGE -> 507, ...).
 */
export interface Policy {
  readonly name: string;
  authorize?(access: Access): void | Promise<void>;
  /** A write stored `size` bytes. */
  written?(access: Access, size: number): void;
  /** A delete removed a file of `size` bytes (size known only when a policy asked: see `needsDeletedSize`). */
  deleted?(access: Access, size: number): void;
  /** When true, core stats a file before deleting it so that `deleted` gets its size. */
  readonly needsDeletedSize?: boolean;
  /** A read served `bytes` bytes. */
  read?(access: Access, bytes: number): void;
}
