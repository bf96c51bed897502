import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, symlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addBackendConfig } from '@pyrestserver/core';
import { DrimeEmulator } from '../../plugins/backend-drime/test/support/emulator.js';
import { runConfig } from '../src/commands/config.js';
import { pluginSearchPaths } from '../src/plugin-search.js';
import { startCli, tempDir, waitForLog } from './helpers.js';

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
  const child = startCli(['serve', '--backend-config', name, '--listen', '127.0.0.1:0', '--no-auth', ...flags], { cwd: root, env });
  children.push(child);
  const { address } = await waitForLog(child, 'listening');
  assert.match(String(address), /^http:\/\/127\.0\.0\.1:\d+$/);
  return { url: String(address), child };
}

/** The real restic client; async, so that servers in this process (the Drime emulator) keep answering. */
function restic(url: string, repo: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('restic', ['-r', `rest:${url}/${repo}`, ...args], {
    env: { PATH: process.env.PATH, HOME: root, RESTIC_PASSWORD: 'test-password', RESTIC_CACHE_DIR: path.join(root, 'cache') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`restic must be installed: ${err.message}`)));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The real restic client creates a repository. */
async function resticInit(url: string, repo = 'repo'): Promise<void> {
  const run = await restic(url, repo, 'init');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /created restic repository/);
}

test('two named backends served at once on two ports, each in its own folder', async () => {
  const storeOptions = { env, searchPaths: pluginSearchPaths({ cwd: root }) };
  await addBackendConfig('first', 'local', { path: path.join(root, 'first') }, storeOptions);
  await addBackendConfig('second', 'local', { path: path.join(root, 'second') }, storeOptions);

  const [a, b] = await Promise.all([serve('first'), serve('second')]);
  assert.notEqual(a.url, b.url);
  const repo = (name: string) => path.join(root, name, 'repo', 'config');
  await resticInit(a.url);
  assert.ok(existsSync(repo('first')));
  assert.ok(!existsSync(repo('second')), 'the second server has its own folder');
  await resticInit(b.url);
  assert.ok(existsSync(repo('second')));
  await Promise.all([stop(a.child), stop(b.child)]);
});

test('a flag overrides the named entry, and an unknown name fails with a hint', async () => {
  const { url, child } = await serve('first', '--path', path.join(root, 'override'));
  await resticInit(url);
  assert.ok(existsSync(path.join(root, 'override', 'repo', 'config')));
  await stop(child);

  const missing = startCli(['serve', '--backend-config', 'nothere', '--listen', '127.0.0.1:0', '--no-auth'], { cwd: root, env });
  children.push(missing);
  let stderr = '';
  missing.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => missing.once('exit', resolve));
  assert.equal(code, 1);
  assert.match(stderr, /\[PYRS_BACKEND_CONFIG_NOT_FOUND\]: no backend configuration named "nothere"/);
  assert.match(stderr, /pyrestserver config list/);
});

test('a drime entry added as in the product docs is served from its obscured key, beside a local entry', async () => {
  const emulator = await DrimeEmulator.start();
  try {
    // The drime plugin, installed where the CLI looks (the working folder's node_modules).
    await mkdir(path.join(root, 'node_modules'), { recursive: true });
    await symlink(fileURLToPath(new URL('../../plugins/backend-drime', import.meta.url)), path.join(root, 'node_modules', 'pyrestserver-backend-drime'));
    let out = '';
    const code = await runConfig(
      ['add', 'mydrime', '--type', 'drime', '--api-key', emulator.apiKey, '--workspace-id', '0', '--api-url', emulator.url],
      { env, cwd: root, out: (t) => { out += t; }, err: () => {} },
    );
    assert.equal(code, 0);
    assert.match(out, /Saved backend "mydrime" \(drime\)/);
    const text = await readFile(path.join(env.PYRESTSERVER_CONFIG_DIR, 'backends.toml'), 'utf8');
    const table = text.slice(text.indexOf('[mydrime]'));
    assert.match(table, /^\[mydrime\]\ntype = "drime"\napi_key = "[A-Za-z0-9_-]+"\nworkspace_id = 0\napi_url = "http:\/\/127\.0\.0\.1:\d+\/api\/v1"\n$/);
    assert.ok(!text.includes(emulator.apiKey), 'the key is stored obscured');

    await addBackendConfig('disk', 'local', { path: path.join(root, 'disk') }, { env, searchPaths: pluginSearchPaths({ cwd: root }) });
    const [cloud, local] = await Promise.all([serve('mydrime'), serve('disk')]);
    await Promise.all([resticInit(cloud.url, 'in-drime'), resticInit(local.url, 'on-disk')]);
    assert.ok(emulator.counts.upload >= 2, 'config and key went to Drime');
    assert.ok(existsSync(path.join(root, 'disk', 'on-disk', 'config')));
    assert.ok(!existsSync(path.join(root, 'disk', 'in-drime')));
    await Promise.all([stop(cloud.child), stop(local.child)]);
  } finally {
    await emulator.close();
  }
});
