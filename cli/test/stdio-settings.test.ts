// `serve --stdio`: the remote names a repository below the root and nothing else; the
// SSH client's command can only pick a repository; listener flags are refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigErrorCode } from '@pyrestserver/core';
import { prepareServe, resolveServeSettings } from '../src/serve/settings.js';
import { parseRemote, remoteFromSshCommand } from '../src/serve/remote.js';
import { cleanEnv, tempDir } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir: root, cleanup } = await tempDir('pyrs-stdio-')));
after(() => cleanup());

async function settings(args: string[], env: NodeJS.ProcessEnv = {}) {
  const context = { env: { ...cleanEnv(), PYRESTSERVER_CONFIG_DIR: path.join(root, 'none'), ...env }, cwd: root };
  const argv = ['serve', ...args];
  return resolveServeSettings(await prepareServe(argv, context), argv, context);
}

const usage = (fn: () => unknown, ...parts: string[]) =>
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, ConfigErrorCode.USAGE, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `${part} not in: ${err.message}`);
    return true;
  });
const rejectsUsage = (promise: Promise<unknown>, ...parts: string[]) =>
  assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, ConfigErrorCode.USAGE, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `${part} not in: ${err.message}`);
    return true;
  });

describe('the remote', () => {
  test('relative repository paths, the root, a trailing slash', () => {
    assert.equal(parseRemote('laptop', 'x'), 'laptop');
    assert.equal(parseRemote('alice/laptop', 'x'), 'alice/laptop');
    assert.equal(parseRemote('alice/laptop/', 'x'), 'alice/laptop');
    assert.equal(parseRemote('', 'x'), '');
    assert.equal(parseRemote('my laptop#1', 'x'), 'my laptop#1');
  });

  test('absolute paths, dot segments, hidden, encoded and type names are refused', () => {
    usage(() => parseRemote('/srv/restic', 'x'), 'absolute');
    usage(() => parseRemote('/', 'x'), 'absolute');
    for (const bad of ['..', '../bob', 'alice/../bob', 'a/./b', 'a//b', '.htpasswd', 'a\\b', 'a%2F..', 'data', 'alice/keys', 'a\u0000b', 'a\nb']) {
      usage(() => parseRemote(bad, 'x'), 'not a repository path');
    }
  });

  test("rclone's NAME:path is refused with a hint", () => {
    usage(() => parseRemote('b2:bucket/x', 'x'), "NAME:path");
    usage(() => parseRemote('mydrime:', 'x'), "NAME:path");
    assert.equal(parseRemote('a/b:c', 'x'), 'a/b:c');
  });
});

describe('SSH_ORIGINAL_COMMAND', () => {
  test("restic's default rclone.args with the remote, or the remote alone", () => {
    assert.equal(remoteFromSshCommand('serve restic --stdio --b2-hard-delete laptop'), 'laptop');
    assert.equal(remoteFromSshCommand('pyrestserver serve --stdio alice/laptop'), 'alice/laptop');
    assert.equal(remoteFromSshCommand('laptop'), 'laptop');
    assert.equal(remoteFromSshCommand('serve restic --stdio --b2-hard-delete '), '');
    assert.equal(remoteFromSshCommand(''), '');
  });

  test('flags, extra words and escapes from the root are refused', () => {
    usage(() => remoteFromSshCommand('serve --stdio --path / laptop'), '"--path"');
    usage(() => remoteFromSshCommand('serve --stdio --no-verify-upload laptop'), '--no-verify-upload');
    usage(() => remoteFromSshCommand('serve restic --stdio ../bob'), 'not a repository path');
    usage(() => remoteFromSshCommand('serve restic --stdio /srv/restic/bob'), 'absolute');
    usage(() => remoteFromSshCommand('laptop other'), '"laptop"');
    usage(() => remoteFromSshCommand('serve --append-only'), '--append-only');
  });
});

describe('serve --stdio settings', () => {
  test("rclone's shape: serve restic --stdio --b2-hard-delete REMOTE; no auth, no TLS", async () => {
    const s = await settings(['restic', '--stdio', '--b2-hard-delete', '--path', root, 'alice/laptop']);
    assert.deepEqual(s.stdio, { repo: 'alice/laptop', source: 'argument' });
    assert.deepEqual(s.server.auth, { kind: 'none' });
    assert.equal(s.server.tls, undefined);
    assert.equal(s.backendOptions.path, root);
  });

  test('policies still apply: append-only, max-size, upload verification', async () => {
    const s = await settings(['--stdio', '--append-only', '--max-size', '1000', '--path', root, 'r']);
    assert.equal(s.server.appendOnly, true);
    assert.equal(s.server.maxSize, 1000);
    assert.equal(s.server.verifyUpload, true);
  });

  test('the SSH client picks a repository below the root when the forced command names none', async () => {
    const s = await settings(['--stdio', '--path', root], { SSH_ORIGINAL_COMMAND: 'serve restic --stdio --b2-hard-delete laptop' });
    assert.deepEqual(s.stdio, { repo: 'laptop', source: 'ssh' });
    await rejectsUsage(settings(['--stdio', '--path', root], { SSH_ORIGINAL_COMMAND: 'serve restic --stdio ../bob' }), 'SSH_ORIGINAL_COMMAND');
  });

  test('a repository in the forced command is the only one the client gets', async () => {
    const env = (cmd: string) => ({ SSH_ORIGINAL_COMMAND: cmd });
    assert.equal((await settings(['--stdio', '--path', root, 'laptop'], env('serve restic --stdio laptop'))).stdio?.repo, 'laptop');
    assert.equal((await settings(['--stdio', '--path', root, 'laptop'], env('serve restic --stdio '))).stdio?.repo, 'laptop');
    await rejectsUsage(settings(['--stdio', '--path', root, 'laptop'], env('serve restic --stdio desktop')), 'serves "laptop" only');
  });

  test('listener flags given on the command line are refused; --log - is refused from anywhere', async () => {
    for (const args of [['--listen', ':9000'], ['--tls'], ['--htpasswd-file', 'x'], ['--prometheus']]) {
      await rejectsUsage(settings(['--stdio', '--path', root, ...args, 'r']), `--${args[0]!.slice(2)} does not apply with --stdio`);
    }
    await rejectsUsage(settings(['--stdio', '--path', root, '--private-repos', 'r']), '--private-repos');
    await rejectsUsage(settings(['--stdio', '--path', root, 'r'], { PYRESTSERVER_LOG: '-' }), 'standard output');
    await rejectsUsage(settings(['--stdio', '--path', root, 'a', 'b']), 'one repository');
  });

  test('without --stdio a repository argument is still refused', async () => {
    await rejectsUsage(settings(['--path', root, 'alice']), 'serve takes no arguments');
    // `serve restic` alone is rclone's word order and accepted.
    assert.equal((await settings(['restic', '--path', root])).stdio, undefined);
  });
});
