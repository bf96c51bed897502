// End to end: the real restic client against the built CLI (`pyrestserver serve`) on the
// local backend. Init, backup, snapshots, check --read-data, restore with a byte-for-byte
// comparison, a second backup, forget --prune, unlock; a nested and a one-level
// repository; and a graceful shutdown on SIGTERM.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, startCli, type CliServer } from './support/cli.js';
import { request } from './support/http.js';
import { restic, resticJson, type ResticOptions, type ResticResult } from './support/restic.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashFile, hashTree, makeTree, removeFile, writeRandomFile } from './support/tree.js';

interface Snapshot {
  id: string;
  short_id: string;
  paths: string[];
  parent?: string;
}

let server: CliServer;
let work: string;

before(async () => {
  ensureBuilt();
  server = await startCli();
  work = await tempDir('pyrs-e2e-');
});

after(async () => {
  // Normally stopped by the last test; this only catches a failure before it.
  if (server.child.exitCode === null) await server.stop('SIGKILL');
  await removeDir(work);
});

/** Assert restic exited 0, showing its output otherwise. */
function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

/** Every file of a repository on disk is where the layout says, and (but config) its SHA-256 is its name. */
async function assertRepositoryIntact(repoDir: string): Promise<number> {
  let files = 0;
  for (const entry of await readdir(repoDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const dir = (entry as unknown as { parentPath?: string; path: string }).parentPath ?? (entry as unknown as { path: string }).path;
    const rel = join(dir, entry.name).slice(repoDir.length + 1);
    if (rel === 'config') continue;
    const m = /^(data\/([0-9a-f]{2})|keys|locks|snapshots|index)\/([0-9a-f]{64})$/.exec(rel);
    assert.ok(m, `unexpected file in the repository: ${rel}`);
    if (m[2]) assert.equal(m[2], m[3]!.slice(0, 2), rel);
    assert.equal(await hashFile(join(repoDir, rel)), m[3], `content of ${rel}`);
    files++;
  }
  return files;
}

describe('restic against pyrestserver serve (nested repository /alice/main)', () => {
  let opts: ResticOptions;
  let source: string;
  let firstId: string;

  before(async () => {
    opts = { repo: `rest:${server.url}/alice/main` };
    source = join(work, 'source');
    await makeTree(source, { seed: 'e2e' });
  });

  it('init creates the repository', async () => {
    const result = ok(await restic(['init'], opts), 'init');
    assert.match(result.stdout, /created restic repository/);
    assert.ok((await stat(join(server.path!, 'alice/main/config'))).isFile());
    assert.ok((await stat(join(server.path!, 'alice/main/data/ff'))).isDirectory());
    // A second init must refuse: the config exists.
    const again = await restic(['init'], opts);
    assert.notEqual(again.code, 0);
  });

  it('backup of a tree with nested folders, an empty file and a file over 8 MiB', async () => {
    const result = ok(await restic(['backup', '--json', source], opts), 'backup');
    const summary = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { message_type: string; snapshot_id?: string; files_new?: number })
      .find((m) => m.message_type === 'summary');
    assert.ok(summary?.snapshot_id, 'backup summary with a snapshot id');
    assert.equal(summary.files_new, 8);
    firstId = summary.snapshot_id;
  });

  it('snapshots --json lists that snapshot', async () => {
    const snapshots = await resticJson<Snapshot[]>(['snapshots'], opts);
    assert.equal(snapshots.length, 1);
    // restic 0.14's backup summary gives the short id.
    assert.ok(snapshots[0]!.id.startsWith(firstId), `${snapshots[0]!.id} vs ${firstId}`);
    firstId = snapshots[0]!.id;
    assert.deepEqual(snapshots[0]!.paths, [source]);
  });

  it('check --read-data finds no errors', async () => {
    const result = ok(await restic(['check', '--read-data'], opts), 'check --read-data');
    assert.match(result.stdout, /no errors were found/);
  });

  it('restore gives back every file byte for byte', async () => {
    const target = join(work, 'restore-1');
    ok(await restic(['restore', firstId, '--target', target], opts), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
  });

  it('a second backup after changes, then forget --keep-last 1 --prune, check and restore', async () => {
    await writeRandomFile(join(source, 'docs/a/small-1.bin'), 'changed', 5000);
    await writeRandomFile(join(source, 'new/added.bin'), 'added', 700_000);
    await removeFile(join(source, 'media/photo-1.bin'));
    ok(await restic(['backup', source], opts), 'second backup');
    const two = await resticJson<Snapshot[]>(['snapshots'], opts);
    assert.equal(two.length, 2);
    const second = two.find((s) => s.id !== firstId)!;
    assert.equal(second.parent, firstId);

    ok(await restic(['forget', '--keep-last', '1', '--prune'], opts), 'forget --prune');
    const one = await resticJson<Snapshot[]>(['snapshots'], opts);
    assert.deepEqual(one.map((s) => s.id), [second.id]);

    const check = ok(await restic(['check', '--read-data'], opts), 'check after prune');
    assert.match(check.stdout, /no errors were found/);

    const target = join(work, 'restore-2');
    ok(await restic(['restore', 'latest', '--target', target], opts), 'restore latest');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
  });

  it('unlock succeeds and no lock is left', async () => {
    ok(await restic(['unlock'], opts), 'unlock');
    const locks = await request(server.url, '/alice/main/locks/');
    assert.equal(locks.status, 200);
    assert.deepEqual(JSON.parse(locks.body.toString()), []);
  });

  it('every stored file is whole: its SHA-256 is its name, nothing temporary is left', async () => {
    const files = await assertRepositoryIntact(join(server.path!, 'alice/main'));
    assert.ok(files > 5, `${files} files`);
  });
});

describe('restic against a one-level repository (/solo)', () => {
  it('init, backup, check --read-data and restore', async () => {
    const opts = { repo: `rest:${server.url}/solo/` };
    const source = join(work, 'solo-source');
    await makeTree(source, {
      seed: 'solo',
      files: [
        { path: 'x/one.bin', size: 123_456 },
        { path: 'x/y/empty', size: 0 },
        { path: 'two.bin', size: 2_000_000 },
      ],
    });
    ok(await restic(['init'], opts), 'init');
    ok(await restic(['backup', source], opts), 'backup');
    assert.match(ok(await restic(['check', '--read-data'], opts), 'check').stdout, /no errors were found/);
    const target = join(work, 'solo-restore');
    ok(await restic(['restore', 'latest', '--target', target], opts), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
    await assertRepositoryIntact(join(server.path!, 'solo'));
  });
});

describe('shutdown', () => {
  it('SIGTERM stops the server gracefully with exit code 0', async () => {
    const status = await server.stop('SIGTERM');
    assert.deepEqual(status, { code: 0, signal: null }, server.output());
  });
});
