/**
 * A real OpenSSH server (Debian's openssh-server) on 127.0.0.1 and a free port, with its
 * own host key, configuration and authorized_keys in a temporary folder, for the current
 * user (root in CI: then PermitRootLogin allows forced commands only, as a backup host should).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';
import { waitForPort } from './net.js';

export const SSHD_BIN = process.env.SSHD_BIN ?? '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  user: string;
  /** A client private key (`ssh -i`) whose authorized_keys line is `options` + the key. */
  keyFor(name: string, options: string): Promise<string>;
  /** `ssh -F /dev/null -i KEY -p PORT ... user@127.0.0.1`: restic's rclone.program. */
  sshCommand(key: string): string;
  log(): string;
  stop(): Promise<void>;
}

function keygen(file: string, comment: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`ssh-keygen failed (is openssh-client installed?): ${r.error?.message ?? r.stderr}`);
}

/** Start sshd in `dir` (created). A missing sshd fails the test: it is part of what is tested. */
export async function startSshd(dir: string): Promise<Sshd> {
  if (!existsSync(SSHD_BIN)) throw new Error(`${SSHD_BIN} is missing; this test needs openssh-server`);
  await mkdir(dir, { recursive: true });
  // Privilege separation needs this empty folder (the Debian package creates it at boot).
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  keygen(hostKey, 'test-host');
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, '', { mode: 0o600 });
  const port = await freePort();
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  await writeFile(config, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin forced-commands-only',
    'PermitUserEnvironment no',
    'LogLevel VERBOSE',
    '',
  ].join('\n'));
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${(await readFile(`${hostKey}.pub`, 'utf8')).trim()}\n`);

  const child: ChildProcess = spawn(SSHD_BIN, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  await waitForPort('sshd', port, () => (child.exitCode !== null ? `exited (${child.exitCode})` : undefined), () => out);

  return {
    port,
    user,
    async keyFor(name, options) {
      const key = join(dir, `client_${name}`);
      keygen(key, name);
      const line = `${options} ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`;
      await writeFile(authorizedKeys, (await readFile(authorizedKeys, 'utf8')) + line);
      return key;
    },
    sshCommand: (key) =>
      `ssh -F /dev/null -i ${key} -p ${port} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes ${user}@127.0.0.1`,
    log: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
