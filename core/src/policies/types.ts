import type { FileType } from '../storage/types.js';

/*
 * NOTE for the protocol routes (issue 4, added by the auth/policies engineer):
 * - `writeFailed` is new: call it on every policy when a write whose `authorize` calls
 *   all passed stored nothing (provider error, client abort, digest mismatch,
 *   ALREADY_EXISTS). The quota policy releases the space it reserved in `authorize`.
 * - Pass the SAME Access object to `authorize` and then to `written` / `writeFailed`
 *   (and to `deleted` after a delete's `authorize`): reservations are keyed by it.
 * - Call each policy's `authorize` in array order and stop at the first that throws.
 */

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
  /** A write that every policy authorized stored nothing (error, abort, bad digest, exists). */
  writeFailed?(access: Access): void;
  /** A delete removed a file of `size` bytes (size known only when a policy asked: see `needsDeletedSize`). */
  deleted?(access: Access, size: number): void;
  /** When true, core stats a file before deleting it so that `deleted` gets its size. */
  readonly needsDeletedSize?: boolean;
  /** A read served `bytes` bytes. */
  read?(access: Access, bytes: number): void;
}
