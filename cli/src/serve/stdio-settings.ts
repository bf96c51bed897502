/**
 * `serve --stdio`: which repository the connection serves, and the flags that make no
 * sense without a network listener (refused when given on the command line, so nobody
 * believes they apply).
 */
import { ConfigError, ConfigErrorCode } from '@pyrestserver/core';
import type { ResolvedFlags } from './flags.js';
import { parseRemote, remoteFromSshCommand } from './remote.js';

export interface StdioSettings {
  /** The repository the client's `/` is, '' for the root. */
  repo: string;
  /** Where it came from: the command line, or the SSH client (SSH_ORIGINAL_COMMAND). */
  source: 'argument' | 'ssh' | 'default';
}

/** Flags of the network listener: an error with --stdio when given on the command line. */
const LISTENER_FLAGS = ['listen', 'tls', 'tls-cert', 'tls-key', 'tls-min-ver', 'htpasswd-file', 'proxy-auth-username', 'prometheus', 'prometheus-no-auth', 'http2'];

export function stdioSettings(words: readonly string[], resolved: ResolvedFlags, env: NodeJS.ProcessEnv): StdioSettings {
  const bad = (message: string, hint: string) => new ConfigError(ConfigErrorCode.USAGE, message, { hint });
  for (const name of LISTENER_FLAGS) {
    if (resolved.sources[name] === `--${name}`) {
      throw bad(`--${name} does not apply with --stdio`, 'With --stdio the connection is the standard input and output (started by restic or ssh); remove the flag.');
    }
  }
  if (resolved.values['private-repos'] === true) {
    throw bad(`--private-repos (${resolved.sources['private-repos']}) does not apply with --stdio: there is no user name`,
      'Give each client its own root instead: --path /srv/restic/<client> in its forced command.');
  }
  if (resolved.values.log === '-') {
    throw bad(`--log - (${resolved.sources.log}) would write to standard output, which carries the connection with --stdio`, 'Give --log a file name.');
  }
  if (words.length > 1) {
    throw bad(`serve --stdio takes one repository, got: ${words.join(' ')}`, 'e.g. pyrestserver serve --stdio --path /srv/restic alice/laptop');
  }
  const pinned = words[0] === undefined ? undefined : parseRemote(words[0], 'the repository argument');
  const sshCommand = env.SSH_ORIGINAL_COMMAND;
  const asked = sshCommand === undefined ? undefined : remoteFromSshCommand(sshCommand);
  if (pinned !== undefined) {
    if (asked !== undefined && asked !== '' && asked !== pinned) {
      throw bad(`the SSH client asked for the repository ${JSON.stringify(asked)}; this key serves ${JSON.stringify(pinned)} only`,
        `On the client use -r rclone:${pinned} (or rclone: alone).`);
    }
    return { repo: pinned, source: 'argument' };
  }
  if (asked !== undefined) return { repo: asked, source: 'ssh' };
  return { repo: '', source: 'default' };
}
