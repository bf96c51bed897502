import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { addBackendConfig } from '@pyrestserver/core';
import { pluginSearchPaths } from '../src/plugin-search.js';
import { tempDir, waitForLog } from './helpers.js';
import { startCliIn } from './spawn-cli.js';

const { dir: root, cleanup } = await tempDir('pyrs-config-serve-');
const children: ChildProcess[] = [];

after(async () => {
  await Promise.all(children.map(stop));
  await cleanup();
});

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const env = { PYRESTSERVER_CONFIG_DIR: path.join(root, 'config') };

/** `serve --backend-config NAME` on a free loopback port; its base URL once it listens. */
async function serve(name: string, ...flags: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = startCliIn(['serve', '--backend-config', name, '--listen', '127.0.0.1:0', '--no-auth', ...flags], { cwd: root, env });
  children.push(child);
  const { address } = await waitForLog(child, 'listening');
  assert.match(String(address), /^http:\/\/127\.0\.0\.1:\d+$/);
  return { url: String(address), child };
}

/** The real restic client creates a repository. */
function resticInit(url: string): void {
  const run = spawnSync('restic', ['-r', `rest:${url}/repo`, 'init'], {
    env: { PATH: process.env.PATH, HOME: root, RESTIC_PASSWORD: 'test-password', RESTIC_CACHE_DIR: path.join(root, 'cache') },
    encoding: 'utf8',
  });
  assert.equal(run.error, undefined, 'restic must be installed');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /created restic repository/);
}

test('two named backends served at once on two ports, each in its own folder', async () => {
  const storeOptions = { env, searchPaths: pluginSearchPaths({ cwd: root }) };
  await addBackendConfig('first', 'local', { path: path.join(root, 'first') }, storeOptions);
  await addBackendConfig('second', 'local', { path: path.join(root, 'second') }, storeOptions);

  const [a, b] = await Promise.all([serve('first'), serve('second')]);
  assert.notEqual(a.url, b.url);
  const repo = (name: string) => path.join(root, name, 'repo', 'config');
  resticInit(a.url);
  assert.ok(existsSync(repo('first')));
  assert.ok(!existsSync(repo('second')), 'the second server has its own folder');
  resticInit(b.url);
  assert.ok(existsSync(repo('second')));
  await Promise.all([stop(a.child), stop(b.child)]);
});

test('a flag overrides the named entry, and an unknown name fails with a hint', async () => {
  const { url, child } = await serve('first', '--path', path.join(root, 'override'));
  resticInit(url);
  assert.ok(existsSync(path.join(root, 'override', 'repo', 'config')));
  await stop(child);

  const missing = startCliIn(['serve', '--backend-config', 'nothere', '--listen', '127.0.0.1:0', '--no-auth'], { cwd: root, env });
  children.push(missing);
  let stderr = '';
  missing.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => missing.once('exit', resolve));
  assert.equal(code, 1);
  assert.match(stderr, /\[PYRS_BACKEND_CONFIG_NOT_FOUND\]: no backend configuration named "nothere"/);
  assert.match(stderr, /pyrestserver config list/);
});
