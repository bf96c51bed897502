import { BLOB_TYPES, type BlobType } from '../storage/types.js';

/**
 * Request paths of the restic REST protocol, parsed from the end:
 *   {repo}/                 the repository itself (create)
 *   {repo}/config           the repository's config file
 *   {repo}/{type}/          a listing
 *   {repo}/{type}/{name}    one file
 * where {repo} is `/` or `/a`, `/a/b`, ... (at most MAX_REPO_DEPTH components).
 *
 * Every repository component is checked here, so nothing unsafe reaches a provider:
 * no empty parts, no `.`/`..` or other leading dot (protects `.htpasswd` and temp
 * files), no `/`, `\`, `%`, NUL or control characters after percent-decoding, and no
 * component named like a file type (it would collide with that repository's folders).
 */

export const MAX_REPO_DEPTH = 16;
/** Longest component a filesystem takes: NAME_MAX, 255 bytes (of UTF-8, as names are stored). */
const MAX_COMPONENT_BYTES = 255;
/**
 * Longest repository path, in UTF-8 bytes. Far beyond real ones, and short enough that
 * `{--path}/{repo}/data/xx/{name}` stays within PATH_MAX (4096) for any sensible --path:
 * a longer path would only make the filesystem fail (ENAMETOOLONG, a 500 restic retries).
 */
export const MAX_REPO_PATH_BYTES = 1024;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

export type Route =
  | { readonly kind: 'repo'; readonly repo: string }
  | { readonly kind: 'config'; readonly repo: string }
  | { readonly kind: 'list'; readonly repo: string; readonly type: BlobType }
  | { readonly kind: 'file'; readonly repo: string; readonly type: BlobType; readonly name: string };

/** Why a path was refused: 400 for undecodable input, 404 for anything else (as rest-server). */
export interface RouteError {
  readonly kind: 'error';
  readonly status: 400 | 404;
}

const NOT_FOUND: RouteError = Object.freeze({ kind: 'error', status: 404 });
const BAD_REQUEST: RouteError = Object.freeze({ kind: 'error', status: 400 });

const BLOB_TYPE_SET: ReadonlySet<string> = new Set(BLOB_TYPES);
const isBlobType = (s: string): s is BlobType => BLOB_TYPE_SET.has(s);

/** The HTTP methods each route answers; anything else is 405 with this list as `Allow`. */
export const ALLOWED_METHODS: Readonly<Record<Route['kind'], string>> = {
  repo: 'POST',
  config: 'HEAD, GET, POST, DELETE',
  list: 'GET',
  file: 'HEAD, GET, POST, DELETE',
};

/** True for 64 lowercase hex characters: the SHA-256 names restic gives its files. */
export function isFileName(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * True when a decoded repository component is safe to hand to a provider.
 * Refuses: empty, leading `.`, `/`, `\`, `%` (double encoding), NUL and other control
 * characters, over-long parts, and the reserved names of a repository's own entries.
 */
export function isSafeComponent(s: string): boolean {
  if (s.length === 0 || s.length > MAX_COMPONENT_BYTES || utf8Length(s) > MAX_COMPONENT_BYTES) return false;
  if (s.charCodeAt(0) === 46 /* . */) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127 || c === 47 /* / */ || c === 92 /* \ */ || c === 37 /* % */) return false;
  }
  return s !== 'config' && !isBlobType(s);
}

/**
 * Parse the path part of a request URL (query already removed, or ignored here).
 * Returns the route, or a RouteError (400 when percent-decoding fails, else 404).
 */
export function parseRoute(url: string): Route | RouteError {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path.charCodeAt(0) !== 47 /* / */) return NOT_FOUND;

  let parts = path.split('/'); // parts[0] is '' (leading slash)
  if (path.includes('%')) {
    const decoded = decodeParts(parts);
    if (decoded === undefined) return BAD_REQUEST;
    parts = decoded;
  }

  // Parse from the end: what the last components are fixes where the repository ends.
  const last = parts.length - 1;
  const final = parts[last]!;
  const before = last >= 2 ? parts[last - 1]! : '';
  let kind: Route['kind'];
  let repoEnd: number; // parts[1..repoEnd) are the repository's components
  if (final === '') {
    kind = isBlobType(before) ? 'list' : 'repo';
    repoEnd = kind === 'list' ? last - 1 : last;
  } else if (final === 'config') {
    kind = 'config';
    repoEnd = last;
  } else if (isBlobType(before) && isFileName(final)) {
    kind = 'file';
    repoEnd = last - 1;
  } else {
    return NOT_FOUND;
  }

  if (repoEnd - 1 > MAX_REPO_DEPTH) return NOT_FOUND;
  for (let i = 1; i < repoEnd; i++) if (!isSafeComponent(parts[i]!)) return NOT_FOUND;
  const repo = repoEnd > 1 ? parts.slice(1, repoEnd).join('/') : '';
  if (utf8Length(repo) > MAX_REPO_PATH_BYTES) return NOT_FOUND;
  if (kind === 'file') return { kind, repo, type: before as BlobType, name: final };
  if (kind === 'list') return { kind, repo, type: before as BlobType };
  return { kind, repo };
}

/** Percent-decode each component on its own (so `%2F` stays inside its component). */
function decodeParts(parts: string[]): string[] | undefined {
  try {
    return parts.map((p) => (p.includes('%') ? decodeURIComponent(p) : p));
  } catch {
    return undefined;
  }
}
