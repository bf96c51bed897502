/**
 * The remote of `serve --stdio`: which repository restic's `rclone:REMOTE` names.
 *
 *   REMOTE = ''  |  component ('/' component)* ['/']     relative, below the backend's root
 *
 * `rclone:alice/laptop` is the repository `alice/laptop` below `--path` (or the bucket,
 * folder, ... of the backend); `rclone:` alone is the root itself. Components follow the
 * protocol's rules for repository paths (no `.`/`..`, no leading dot, no `\`, `%`, control
 * characters or type names); a leading `/` (an absolute path) is refused, never re-rooted.
 * rclone's `NAME:path` is refused too (a colon before the first `/`): the backend is chosen
 * by flags (`--backend`, `--backend-config NAME`), not by the remote.
 *
 * Under an SSH forced command, the remote comes from the client (SSH_ORIGINAL_COMMAND):
 * it can only pick a repository below the root the forced command fixed. Its flags are
 * not the client's to choose: anything but rclone's own argument shape is refused.
 */
import { parseRepositoryPath } from '@pyrestserver/core';
import { usageError } from '../errors.js';

const EXAMPLE = 'e.g. rclone:alice/laptop for the repository alice/laptop below --path';

/** The repository path a remote names ('' for the root). `where` names the source in errors. */
export function parseRemote(text: string, where: string): string {
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  if (colon !== -1 && (slash === -1 || colon < slash)) {
    throw usageError(
      `${where}: ${JSON.stringify(text)} looks like rclone's NAME:path; the remote is only a repository path`,
      'Choose the backend with --backend or --backend-config NAME (in rclone.args or the forced command), and give the path alone.',
    );
  }
  const repo = text;
  if (repo.startsWith('/')) {
    throw usageError(`${where}: ${JSON.stringify(text)} is an absolute path; the remote names a repository below the server's root`, `Give a relative path, ${EXAMPLE}.`);
  }
  const trimmed = repo.endsWith('/') ? repo.slice(0, -1) : repo;
  if (trimmed !== '' && parseRepositoryPath(trimmed) === undefined) {
    throw usageError(
      `${where}: ${JSON.stringify(text)} is not a repository path (each part non-empty, not . or .., no leading dot, no \\ % or control characters, not a type name like data or keys)`,
      `Give a relative path, ${EXAMPLE}.`,
    );
  }
  return trimmed;
}

/** Words of rclone's argument shape a client may send: restic's default `rclone.args`. */
const RCLONE_WORDS = new Set(['pyrestserver', 'rclone', 'serve', 'restic', '--stdio', '--b2-hard-delete']);

/**
 * The repository a client asks for in SSH_ORIGINAL_COMMAND (what restic passed to `ssh`:
 * its `rclone.args` and the remote, joined by spaces). Only rclone's shape is taken:
 * `[pyrestserver|rclone] [serve] [restic] [--stdio] [--b2-hard-delete] [REMOTE]`.
 * Other flags or more words are refused: the forced command decides everything else.
 */
export function remoteFromSshCommand(command: string): string {
  const words = command.split(/[ \t]+/).filter((w) => w !== '');
  const where = 'the SSH client\'s command (SSH_ORIGINAL_COMMAND)';
  const last = words.at(-1);
  const remote = last !== undefined && !RCLONE_WORDS.has(last) ? last : '';
  const rest = remote === '' ? words : words.slice(0, -1);
  const odd = rest.find((w) => !RCLONE_WORDS.has(w)) ?? (remote.startsWith('-') ? remote : undefined);
  if (odd !== undefined) {
    throw usageError(
      `${where}: ${JSON.stringify(odd)} is not accepted; the client may only name the repository`,
      'Flags are set by the forced command in authorized_keys. On the client use -r rclone:REPO and restic\'s default rclone.args.',
    );
  }
  return parseRemote(remote, where);
}
