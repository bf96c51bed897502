/**
 * docs/custom-backends.md must work as written: its package.json and index.js are written
 * to a fresh package, which pyrestserver loads by path and which passes the conformance
 * suite; its option flags appear in `serve --help`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadBackend, type StorageProvider } from '@pyrestserver/core';
import { runConformanceSuite } from '@pyrestserver/core/conformance';
import { runCli } from './helpers.js';

const DOC = fileURLToPath(new URL('../../docs/custom-backends.md', import.meta.url));
const CORE = fileURLToPath(new URL('../../core', import.meta.url));

/** The first fenced code block after the line `label`. */
function codeAfter(markdown: string, label: string): string {
  const at = markdown.indexOf(`\n${label}\n`);
  assert.ok(at !== -1, `no "${label}" in the guide`);
  const m = /```\w*\n([\s\S]*?)```/.exec(markdown.slice(at));
  assert.ok(m, `no code block after "${label}"`);
  return m[1]!;
}

const markdown = await readFile(DOC, 'utf8');
const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'pyrs-docs-')), 'pyrestserver-backend-folder');
await mkdir(path.join(dir, 'node_modules', '@pyrestserver'), { recursive: true });
await writeFile(path.join(dir, 'package.json'), codeAfter(markdown, '`package.json`:'));
await writeFile(path.join(dir, 'index.js'), codeAfter(markdown, '`index.js`:'));
// What `npm install` would do for the peer/dev dependency: this workspace's core.
await symlink(CORE, path.join(dir, 'node_modules', '@pyrestserver', 'core'), 'dir');
after(() => rm(path.dirname(dir), { recursive: true, force: true }));

test('the guide\'s package loads by path, with its type and options', async () => {
  const loaded = await loadBackend(dir);
  assert.equal(loaded.plugin.type, 'folder');
  assert.equal(loaded.packageName, 'pyrestserver-backend-folder');
  assert.deepEqual(loaded.plugin.optionsSchema.required, ['root']);
});

test('serve --backend PATH --help shows the guide\'s option as a flag', async () => {
  const { code, stdout } = await runCli(['serve', '--backend', dir, '--help'], { cwd: os.tmpdir() });
  assert.equal(code, 0);
  assert.match(stdout, /--root <string>\s+folder: folder that holds the repositories \[env FOLDER_BACKEND_ROOT, required\]/);
});

const { FolderProvider } = (await import(pathToFileURL(path.join(dir, 'index.js')).href)) as {
  FolderProvider: new (root: string) => StorageProvider;
};
runConformanceSuite('docs/custom-backends.md example', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pyrs-docs-store-'));
  return { provider: new FolderProvider(root), cleanup: () => rm(root, { recursive: true, force: true }) };
}, { largeBlobSize: 8 * 1024 * 1024, listCount: 120 });
