import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigErrorCode, obscure } from '@pyrestserver/core';
import { prepareServe, resolveServeSettings } from '../src/serve/settings.js';
import { cleanEnv, tempDir, writeFiles, writePlugin } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
/** A project whose node_modules holds the `demo` fixture backend. */
let projectDir: string;
let configDir: string;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('pyrs-serve-'));
  projectDir = path.join(root, 'project');
  configDir = path.join(root, 'config-home');
  await writeFiles(projectDir, { 'package.json': '{"name":"p"}' });
  await writePlugin(path.join(projectDir, 'node_modules'), { name: 'pyrestserver-backend-demo' });
  await writeFiles(configDir, {
    'backends.toml': `[saved]\ntype = "demo"\napi_key = "${obscure('saved-key')}"\nretries = 2\nworkspace_id = "saved-ws"\n`,
  });
});
after(() => cleanup());

/** prepare + resolve, as `pyrestserver serve ...args` would, in `cwd` with `env`. */
async function settings(args: string[], { env = {}, cwd = projectDir }: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const context = { env: { ...cleanEnv(), PYRESTSERVER_CONFIG_DIR: configDir, ...env }, cwd };
  const argv = ['serve', ...args];
  return resolveServeSettings(await prepareServe(argv, context), argv, context);
}

const rejectsWith = (promise: Promise<unknown>, code: string, ...parts: string[]) =>
  assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `${part} not in: ${err.message}`);
    return true;
  });

describe('serve defaults (rest-server 0.14)', () => {
  test('local backend on /tmp/restic, :8000, htpasswd auth from <path>/.htpasswd, upload verification on', async () => {
    const s = await settings([], { cwd: root });
    assert.equal(s.backend.plugin.type, 'local');
    assert.equal(s.backend.packageName, 'pyrestserver-backend-local');
    assert.equal(s.backendOptions.path, '/tmp/restic');
    assert.equal(s.listen, ':8000');
    assert.deepEqual(s.server.auth, { kind: 'htpasswd', file: '/tmp/restic/.htpasswd' });
    assert.equal(s.server.verifyUpload, true);
    assert.equal(s.server.appendOnly, false);
    assert.equal(s.server.tls, undefined);
    assert.equal(s.groupAccessible, false);
  });

  test('every rest-server flag maps into the server options', async () => {
    const s = await settings([
      '--path', path.join(root, 'data'), '--listen', '127.0.0.1:9999', '--append-only', '--private-repos',
      '--max-size', '1048576', '--group-accessible-repos', '--tls', '--tls-min-ver', '1.3', '--prometheus',
      '--prometheus-no-auth', '--log', '-', '--no-verify-upload', '--debug', '--htpasswd-file', 'users.htpasswd',
    ], { cwd: root });
    assert.equal(s.backendOptions.path, path.join(root, 'data'));
    assert.equal(s.listen, '127.0.0.1:9999');
    assert.deepEqual(s.server.auth, { kind: 'htpasswd', file: path.join(root, 'users.htpasswd') });
    assert.equal(s.server.appendOnly, true);
    assert.equal(s.server.privateRepos, true);
    assert.equal(s.server.maxSize, 1048576);
    assert.equal(s.groupAccessible, true);
    assert.deepEqual(s.server.tls, {
      cert: path.join(root, 'data', 'public_key'), key: path.join(root, 'data', 'private_key'), minVersion: '1.3',
    });
    assert.equal(s.server.prometheus, true);
    assert.equal(s.server.prometheusNoAuth, true);
    assert.equal(s.server.log, '-');
    assert.equal(s.server.verifyUpload, false);
    assert.equal(s.debug, true);
  });

  test('--no-auth and --proxy-auth-username choose the authentication', async () => {
    assert.deepEqual((await settings(['--no-auth'], { cwd: root })).server.auth, { kind: 'none' });
    assert.deepEqual((await settings(['--proxy-auth-username', 'X-Forwarded-User'], { cwd: root })).server.auth, {
      kind: 'proxy', header: 'X-Forwarded-User',
    });
  });
});

describe('precedence: flag > environment > config file > default', () => {
  test('a serve flag', async () => {
    const dir = path.join(root, 'prec-serve');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.toml': '[serve]\nlisten = ":1001"\nmaxSize = 5\n' });
    const env = { PYRESTSERVER_LISTEN: ':1002' };
    assert.equal((await settings(['--listen', ':1003'], { cwd: dir, env })).listen, ':1003');
    assert.equal((await settings([], { cwd: dir, env })).listen, ':1002');
    assert.equal((await settings([], { cwd: dir })).listen, ':1001');
    assert.equal((await settings([], { cwd: dir })).server.maxSize, 5);
    assert.equal((await settings([], { cwd: root })).listen, ':8000');
  });

  test('a boolean serve flag from the environment and the config file', async () => {
    const dir = path.join(root, 'prec-bool');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.yaml': 'serve:\n  no-auth: true\n  appendOnly: true\n' });
    assert.deepEqual((await settings([], { cwd: dir })).server.auth, { kind: 'none' });
    assert.equal((await settings([], { cwd: dir, env: { PYRESTSERVER_APPEND_ONLY: 'false' } })).server.appendOnly, false);
    assert.equal((await settings([], { cwd: root, env: { PYRESTSERVER_APPEND_ONLY: 'yes' } })).server.appendOnly, true);
  });

  test('--no-X turns off a boolean flag or backend option that the config file turned on', async () => {
    const dir = path.join(root, 'prec-negate');
    await writeFiles(dir, {
      'package.json': '{}',
      'pyrestserver.config.toml': 'backend = "demo"\n[serve]\nappend-only = true\n[backends.demo]\napi_key = "k"\nfast = true\n',
    });
    await writePlugin(path.join(dir, 'node_modules'), { name: 'pyrestserver-backend-demo' });
    const on = await settings([], { cwd: dir });
    assert.equal(on.server.appendOnly, true);
    assert.equal(on.backendOptions.fast, true);
    const off = await settings(['--no-append-only', '--no-fast'], { cwd: dir });
    assert.equal(off.server.appendOnly, false);
    assert.equal(off.backendOptions.fast, false);
    await rejectsWith(settings(['--fast', '--no-fast'], { cwd: dir }), ConfigErrorCode.USAGE, 'contradict');
  });

  test('booleans take a value too: --flag=true/false, --flag true/false (serve flags and backend options)', async () => {
    const dir = path.join(root, 'prec-negate');
    const cases: [string[], boolean, boolean][] = [
      [['--append-only=false', '--fast=false'], false, false],
      [['--append-only', 'false', '--fast', 'FALSE'], false, false],
      [['--append-only=true', '--fast', 'true'], true, true],
      [['--append-only=no', '--fast=0'], false, false],
      [['--no-append-only=false', '--no-fast=true'], true, false],
    ];
    for (const [args, appendOnly, fast] of cases) {
      const s = await settings(args, { cwd: dir });
      assert.equal(s.server.appendOnly, appendOnly, args.join(' '));
      assert.equal(s.backendOptions.fast, fast, args.join(' '));
    }
    assert.equal((await settings(['--no-auth=true'], { cwd: root })).server.auth.kind, 'none');
    assert.equal((await settings(['--no-auth=false'], { cwd: root })).server.auth.kind, 'htpasswd');
    await rejectsWith(settings(['--fast=maybe'], { cwd: dir }), ConfigErrorCode.USAGE, '--fast: expected true or false, got "maybe"');
    await rejectsWith(settings(['--fast=true', '--no-fast'], { cwd: dir }), ConfigErrorCode.USAGE, 'both on and off');
    // Only exactly true/false is taken from the next argument; anything else stays a positional.
    await rejectsWith(settings(['--fast', 'yes'], { cwd: dir }), ConfigErrorCode.USAGE, 'takes no arguments');
  });

  test('a backend option: flag > --backend-config > x-env > config file > schema default', async () => {
    const dir = path.join(root, 'prec-backend');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.toml': 'backend = "demo"\n[backends.demo]\napi_key = "file-key"\nretries = 1\n' });
    await writePlugin(path.join(dir, 'node_modules'), { name: 'pyrestserver-backend-demo' });
    const env = { DEMO_RETRIES: '3' };
    assert.equal((await settings(['--retries', '4', '--backend-config', 'saved'], { cwd: dir, env })).backendOptions.retries, 4);
    assert.equal((await settings(['--backend-config', 'saved'], { cwd: dir, env })).backendOptions.retries, 2);
    assert.equal((await settings(['--backend-config', 'saved'], { cwd: dir })).backendOptions.retries, 2);
    assert.equal((await settings([], { cwd: dir, env })).backendOptions.retries, 3);
    assert.equal((await settings([], { cwd: dir })).backendOptions.retries, 1);
    const fromDefaults = await settings(['--api-key', 'k'], { cwd: projectDir, env: { PYRESTSERVER_BACKEND: 'demo' } });
    assert.equal(fromDefaults.backendOptions.retries, 3);
    assert.equal(fromDefaults.backendOptions.workspace_id, '0');
  });

  test('--backend-config reveals the saved secret; the backend type comes from the entry', async () => {
    const s = await settings(['--backend-config', 'saved']);
    assert.equal(s.backend.plugin.type, 'demo');
    assert.equal(s.backendOptions.api_key, 'saved-key');
    assert.equal(s.backendOptions.workspace_id, 'saved-ws');
    assert.deepEqual(s.secretValues, ['saved-key']);
    assert.deepEqual(s.secretKeys, ['api_key']);
  });

  test('--path feeds the local backend; the config file serve.path and PYRESTSERVER_PATH too', async () => {
    const dir = path.join(root, 'prec-path');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.json': '{"serve":{"path":"/srv/from-file"}}' });
    assert.equal((await settings([], { cwd: dir })).backendOptions.path, '/srv/from-file');
    assert.equal((await settings([], { cwd: dir, env: { PYRESTSERVER_PATH: '/srv/env' } })).backendOptions.path, '/srv/env');
    const s = await settings(['--path', '/srv/flag'], { cwd: dir, env: { PYRESTSERVER_PATH: '/srv/env' } });
    assert.equal(s.backendOptions.path, '/srv/flag');
    assert.deepEqual(s.server.auth, { kind: 'htpasswd', file: '/srv/flag/.htpasswd' });
  });
});

describe('values are kept as typed', () => {
  test('0123 stays the string 0123 for string options (secrets and ids)', async () => {
    const s = await settings(['--backend', 'demo', '--api-key', '0123', '--workspace-id=0123']);
    assert.equal(s.backendOptions.api_key, '0123');
    assert.equal(s.backendOptions.workspace_id, '0123');
  });

  test('integer options are coerced from the flag text', async () => {
    assert.equal((await settings(['--backend', 'demo', '--api-key', 'k', '--retries', '07'])).backendOptions.retries, 7);
  });

  test('users and repos of the config file reach the server options', async () => {
    const dir = path.join(root, 'users');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.toml': '[users.alice]\nappend-only = true\nmax_size = 100\n[repos."alice/main"]\nmaxSize = 50\n[repos."bob/x"]\nmaxSize = "2GiB"\n' });
    const s = await settings([], { cwd: dir });
    assert.deepEqual(s.server.users, { alice: { appendOnly: true, maxSize: 100 } });
    assert.deepEqual(s.server.repos, { 'alice/main': { maxSize: 50 }, 'bob/x': { maxSize: 2 ** 31 } });
  });

  test('plugins listed in the config file provide backend types', async () => {
    const dir = path.join(root, 'with-plugins');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.json': '{"backend":"mine","plugins":["./vendor/pyrestserver-backend-mine"]}' });
    await writePlugin(path.join(dir, 'vendor'), { name: 'pyrestserver-backend-mine', schema: { type: 'object', properties: {} } });
    const s = await settings([], { cwd: dir });
    assert.equal(s.backend.plugin.type, 'mine');
    assert.equal(s.backend.location, path.join(dir, 'vendor', 'pyrestserver-backend-mine'));
  });
});

describe('paths', () => {
  test('a backend path in the config file is relative to the config file, on the command line to cwd', async () => {
    const dir = path.join(root, 'relative');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.yaml': 'backend: ./vendor/pyrestserver-backend-rel\n', 'sub/.keep': '' });
    await writePlugin(path.join(dir, 'vendor'), { name: 'pyrestserver-backend-rel', schema: { type: 'object', properties: {} } });
    assert.equal((await settings([], { cwd: path.join(dir, 'sub') })).backend.plugin.type, 'rel');
    assert.equal((await settings(['--backend', '../vendor/pyrestserver-backend-rel'], { cwd: path.join(dir, 'sub') })).backend.plugin.type, 'rel');
    await rejectsWith(settings(['--backend', './vendor/pyrestserver-backend-rel'], { cwd: path.join(dir, 'sub') }), ConfigErrorCode.PLUGIN_NOT_FOUND);
  });
});

describe('bad input names the flag, variable or key and what was expected', () => {
  test('a bad size', () => rejectsWith(settings(['--max-size', '10 gallons']), ConfigErrorCode.OPTIONS_INVALID, '--max-size', 'bytes or a size such as 500MiB', '"10 gallons"'));
  test('--max-size takes units: K/M/G/T alone and KiB.. are powers of 1024, KB.. powers of 1000', async () => {
    const cases: [string, number][] = [
      ['1048576', 1048576], ['500MiB', 500 * 2 ** 20], ['2TB', 2e12], ['10G', 10 * 2 ** 30], ['10g', 10 * 2 ** 30],
      ['1.5GiB', 1.5 * 2 ** 30], ['100 MB', 1e8], ['512k', 512 * 1024], ['7B', 7],
    ];
    for (const [given, bytes] of cases) assert.equal((await settings(['--max-size', given])).server.maxSize, bytes, given);
    assert.equal((await settings([], { env: { PYRESTSERVER_MAX_SIZE: '3GB' } })).server.maxSize, 3e9);
    for (const bad of ['-1.5', '10X', 'G', '1e9', '99999999999P']) {
      await rejectsWith(settings([`--max-size=${bad}`]), ConfigErrorCode.OPTIONS_INVALID, '--max-size');
    }
  });
  test('a bad boolean variable', () =>
    rejectsWith(settings([], { env: { PYRESTSERVER_NO_AUTH: 'maybe' } }), ConfigErrorCode.OPTIONS_INVALID, 'PYRESTSERVER_NO_AUTH', 'true or false'));
  test('a bad backend option names its flag', () =>
    rejectsWith(settings(['--backend', 'demo', '--api-key', 'k', '--retries', 'x']), ConfigErrorCode.OPTIONS_INVALID, '--retries: must be integer'));
  test('a bad backend option from its variable names the variable', () =>
    rejectsWith(settings(['--backend', 'demo', '--api-key', 'k'], { env: { DEMO_RETRIES: '-1' } }), ConfigErrorCode.OPTIONS_INVALID, 'DEMO_RETRIES: must be >= 0'));
  test('a missing required option', () =>
    rejectsWith(settings(['--backend', 'demo']), ConfigErrorCode.OPTIONS_INVALID, 'api_key is required', '--api-key', 'DEMO_API_KEY'));
  test('an unknown flag', () => rejectsWith(settings(['--colour']), ConfigErrorCode.USAGE, "'--colour'"));
  test('a flag without its value', () => rejectsWith(settings(['--listen']), ConfigErrorCode.USAGE, '--listen'));
  test('a stray argument', () => rejectsWith(settings(['extra']), ConfigErrorCode.USAGE, 'extra'));
  test('--tls-cert without --tls', () => rejectsWith(settings(['--tls-cert', 'c.pem']), ConfigErrorCode.TLS_SETUP, '--tls'));
  test('a bad --tls-min-ver', () => rejectsWith(settings(['--tls', '--tls-min-ver', '1.1']), ConfigErrorCode.OPTIONS_INVALID, '1.2 or 1.3'));
  test('--backend that contradicts --backend-config', () =>
    rejectsWith(settings(['--backend', 'local', '--backend-config', 'saved']), ConfigErrorCode.USAGE, 'saved', 'demo'));
  test('an unknown serve key in the config file', async () => {
    const dir = path.join(root, 'bad-serve');
    await writeFiles(dir, { 'package.json': '{}', 'pyrestserver.config.toml': '[serve]\nlisten = ":1"\nlisten-twice = true\n' });
    await rejectsWith(settings([], { cwd: dir }), ConfigErrorCode.CONFIG_FILE_INVALID, 'serve.listen-twice', 'pyrestserver.config.toml');
  });
  test('a missing backend', () =>
    rejectsWith(settings(['--backend', 'nope']), ConfigErrorCode.PLUGIN_NOT_FOUND, 'pyrestserver-backend-nope', path.join(projectDir, 'node_modules')));
});
