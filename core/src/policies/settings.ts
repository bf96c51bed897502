import type { PolicyOptions } from './index.js';

/**
 * The user a repository belongs to: its first path component (`alice` for
 * `alice/laptop`), as rest-server's --private-repos reads it. None for the root repo.
 */
export const ownerOf = (repo: string): string | undefined => repo.split('/')[0] || undefined;

/**
 * Whether deletes (other than locks) are refused for this user in this repository.
 * The most specific setting wins: the repository's, then the user's, then --append-only.
 */
export function appendOnlyFor(options: PolicyOptions, user: string | undefined, repo: string): boolean {
  return (
    options.repos?.[repo]?.appendOnly ??
    (user !== undefined ? options.users?.[user]?.appendOnly : undefined) ??
    options.appendOnly ??
    false
  );
}

/** Whether this user may only touch repositories below their own name. */
export function privateReposFor(options: PolicyOptions, user: string | undefined): boolean {
  return (user !== undefined ? options.users?.[user]?.privateRepos : undefined) ?? options.privateRepos ?? false;
}

/** True when any append-only setting is given, at any level. */
export function anyAppendOnly(options: PolicyOptions): boolean {
  return (
    options.appendOnly === true ||
    Object.values(options.users ?? {}).some((u) => u.appendOnly !== undefined) ||
    Object.values(options.repos ?? {}).some((r) => r.appendOnly !== undefined)
  );
}
