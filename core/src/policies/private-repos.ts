import { BLOB_TYPES } from '../storage/types.js';

/** Path components that name a repository's files, not the repository. */
const FILE_COMPONENTS = new Set<string>([...BLOB_TYPES, 'config']);

/**
 * The user a request path belongs to under --private-repos: its first component,
 * unless that already names a file type (the repository at the root belongs to nobody).
 * This is rest-server's rule, applied to the URL before any route runs.
 */
export function pathOwner(url: string): string | undefined {
  const path = url.split('?', 1)[0]!;
  const first = path.split('/')[1];
  if (!first) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(first);
  } catch {
    return undefined;
  }
  return FILE_COMPONENTS.has(name) ? undefined : name;
}

/** True when `user` may touch the repository `url` points into. */
export const ownsPath = (user: string | undefined, url: string): boolean =>
  user !== undefined && pathOwner(url) === user;
