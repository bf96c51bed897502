// The Drime backend through `serve --stdio` (restic's rclone backend): a new server process
// per restic command, each talking to the same (emulated) Drime account. The remote names
// the repository's folder path in Drime. init, backup, check --read-data, byte-identical
// restore, forget --prune; deletes really delete; a saved backend (--backend-config); the API
// key never reaches restic's output.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { obscure } from '@pyrestserver/core';
import { DrimeEmulator } from '../plugins/backend-drime/test/support/emulator.js';
import { ensureBuilt } from './support/cli.js';
import type { ResticResult } from './support/restic.js';
import { resticStdio, type StdioRestic } from './support/stdio.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree, writeRandomFile } from './support/tree.js';

function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

describe('restic -o rclone.program=pyrestserver with --backend drime', () => {
  let emulator: DrimeEmulator;
  let work: string;
  let source: string;
  let s: StdioRestic;
  const outputs: string[] = [];
  const run = async (args: string[], what: string) => {
    const result = await resticStdio(args, s, { cwd: source });
    outputs.push(result.stdout, result.stderr);
    return ok(result, what);
  };

  before(async () => {
    ensureBuilt();
    emulator = await DrimeEmulator.start({ pageSize: 50 });
    work = await tempDir('pyrs-stdio-drime-');
    source = join(work, 'source');
    await makeTree(source, { seed: 'stdio-drime' });
    s = {
      args: 'serve --stdio --backend drime --retry-delay 20 --max-retries 8',
      remote: 'backups/laptop',
      env: { DRIME_API_KEY: emulator.apiKey, DRIME_API_URL: emulator.url },
    };
  });
  after(async () => {
    await emulator?.close();
    await removeDir(work);
  });

  it('init puts the repository at the remote inside Drime', async () => {
    await run(['init'], 'init');
    assert.equal(emulator.find('backups/laptop/config').length, 1);
  });

  it('backup, check --read-data, byte-identical restore', async () => {
    await run(['backup', '.'], 'backup');
    assert.match((await run(['check', '--read-data'], 'check')).stdout, /no errors were found/);
    const target = join(work, 'restore');
    await run(['restore', 'latest', '--target', target], 'restore');
    assert.deepEqual(await hashTree(target), await hashTree(source));
  });

  it('a second backup, forget --prune removes files, check is clean', async () => {
    await writeRandomFile(join(source, 'docs/new.bin'), 'stdio-drime:new', 700_000);
    await run(['backup', '.'], 'second backup');
    const files = () => emulator.entries().filter((e) => e.type !== 'folder').length;
    const before = files();
    await run(['forget', '--keep-last', '1', '--prune'], 'forget --prune');
    assert.ok(files() < before, `prune removed nothing (${before} -> ${files()})`);
    assert.equal(emulator.trashed().length, 0, 'deleted files went to the trash');
    assert.match((await run(['check', '--read-data'], 'check after prune')).stdout, /no errors were found/);
  });

  it('--backend-config NAME (backends.toml) and the same through PYRESTSERVER_BACKEND_CONFIG with rclone\'s default args', async () => {
    const configDir = join(work, 'config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'backends.toml'), `[mydrime]\ntype = "drime"\napi_key = "${obscure(emulator.apiKey)}"\napi_url = "${emulator.url}"\n`);
    const saved: StdioRestic = { args: 'serve --stdio --backend-config mydrime', remote: 'backups/laptop', env: { PYRESTSERVER_CONFIG_DIR: configDir } };
    const listed = ok(await resticStdio(['--json', 'snapshots'], saved), 'snapshots via --backend-config');
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1);
    ok(await resticStdio(['backup', '--force', '.'], saved, { cwd: source }), 'backup via --backend-config');
    const shaped: StdioRestic = { remote: 'backups/laptop', env: { PYRESTSERVER_CONFIG_DIR: configDir, PYRESTSERVER_BACKEND_CONFIG: 'mydrime' } };
    const again = ok(await resticStdio(['--json', 'snapshots'], shaped), "snapshots with restic's default rclone.args");
    assert.equal((JSON.parse(again.stdout) as unknown[]).length, 2);
    outputs.push(listed.stderr, again.stderr);
  });

  it('the API key never appears in what restic printed (the server logs to its stderr)', () => {
    for (const text of outputs) assert.ok(!text.includes(emulator.apiKey));
  });
});
