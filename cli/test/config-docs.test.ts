/**
 * docs/configuration.md must work as written: its config file example loads, its
 * backends.toml example is read, and its `config add` commands write that format.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBackendConfig, getBackendConfig, listBackendConfigs, loadConfigFile } from '@pyrestserver/core';
import { runConfig } from '../src/commands/config.js';
import { tempDir } from './helpers.js';
import { pyReveal } from '../../core/test/vaultconfig.js';

const markdown = await readFile(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');
const { dir: root, cleanup } = await tempDir('pyrs-config-docs-');
after(() => cleanup());

/** The fenced code block that starts with `firstLine`, or the first one after the line `label`. */
function block(find: { firstLine?: string; after?: string }): string {
  const from = find.after ? markdown.indexOf(`${find.after}\n`) : 0;
  assert.ok(from !== -1, `no "${find.after}" in the doc`);
  for (const m of markdown.slice(from).matchAll(/```\w*\n([\s\S]*?)```/g)) {
    if (!find.firstLine || m[1]!.startsWith(`${find.firstLine}\n`)) return m[1]!;
  }
  assert.fail(`no code block for ${JSON.stringify(find)}`);
}

/** `pyrestserver config ...` lines of a shell block, split into arguments (double quotes removed). */
const configCommands = (shell: string) =>
  shell.split('\n').filter((l) => l.startsWith('pyrestserver config add ')).map((l) =>
    [...l.slice('pyrestserver config '.length).matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!));

test('the config file example loads with the keys it shows', async () => {
  const project = path.join(root, 'project');
  await mkdir(project, { recursive: true });
  await writeFile(path.join(project, 'package.json'), '{"name":"p"}');
  await writeFile(path.join(project, 'pyrestserver.config.toml'), block({ firstLine: '# pyrestserver.config.toml' }));
  const loaded = await loadConfigFile({ cwd: project });
  assert.ok(loaded);
  assert.equal(loaded.config.backend, 'drime');
  assert.deepEqual(loaded.config.serve, { listen: ':8001', 'append-only': true });
  assert.deepEqual(loaded.config.backends, { drime: { workspace_id: 0 } });
  assert.deepEqual(loaded.config.users, { alice: { maxSize: 10_000_000_000 } });
  assert.deepEqual(loaded.config.repos, { 'team/photos': { appendOnly: true } });
});

test('the backends.toml example is read; a secret not obscured is used as written', async () => {
  const dir = path.join(root, 'example');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'backends.toml'), block({ after: 'same format PyRestServer uses:' }));
  const { backends, problems } = await listBackendConfigs({ dir });
  assert.deepEqual(problems, []);
  assert.deepEqual(backends.map((b) => [b.name, b.type]), [['local-main', 'local'], ['cloud-backup', 'drime']]);
  assert.deepEqual((await findBackendConfig('local-main', { dir })).options, { path: '/srv/restic' });
});

test('the `config add` commands write the format of the example', async () => {
  // The drime plugin, installed where the CLI looks for it.
  await mkdir(path.join(root, 'node_modules'), { recursive: true });
  await symlink(fileURLToPath(new URL('../../plugins/backend-drime', import.meta.url)), path.join(root, 'node_modules', 'pyrestserver-backend-drime'));
  const dir = path.join(root, 'written');
  const commands = configCommands(block({ after: '### Commands' }));
  assert.equal(commands.length, 2);
  for (const args of commands) {
    const code = await runConfig(args, { env: { PYRESTSERVER_CONFIG_DIR: dir }, cwd: root, out: () => {}, err: () => {} });
    assert.equal(code, 0, args.join(' '));
  }
  const text = await readFile(path.join(dir, 'backends.toml'), 'utf8');
  const obscured = /api_key = "([^"]+)"/.exec(text)?.[1];
  assert.ok(obscured);
  assert.equal(text, `[local-main]\ntype = "local"\npath = "/srv/restic"\n\n[cloud-backup]\ntype = "drime"\napi_key = "${obscured}"\nworkspace_id = 0\n`);
  assert.deepEqual(pyReveal([obscured]), ['KEY']);
  const searchPaths = [root, fileURLToPath(new URL('..', import.meta.url))];
  assert.equal((await getBackendConfig('cloud-backup', { dir, searchPaths })).options.api_key, 'KEY');
});
