import { parseRoute } from '../protocol/paths.js';

/** `alice/my laptop` -> `alice/my%20laptop`: each component percent-encoded, for a URL path. */
export const encodeRepositoryPath = (repo: string): string => repo.split('/').map(encodeURIComponent).join('/');

/**
 * `repo` when it is a repository path the protocol accepts (relative, `a` or `a/b/...`,
 * every component safe: see protocol/paths.ts), else undefined. '' (the root) is undefined
 * here too: a caller that allows the root checks for it first.
 */
export function parseRepositoryPath(repo: string): string | undefined {
  if (repo === '' || repo.includes('%')) return undefined;
  const route = parseRoute(`/${encodeRepositoryPath(repo)}/`);
  return route.kind === 'repo' && route.repo === repo ? repo : undefined;
}
