// The real restic client through its `rclone:` backend, with `rclone.program` set to our
// CLI: `pyrestserver serve --stdio` is started for every command and serves one HTTP/2
// connection on its standard input and output. The whole workflow on the local backend,
// rclone's own argument shape, refused remotes, policies, and a client killed mid-upload.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt } from './support/cli.js';
import type { ResticResult } from './support/restic.js';
import {
  assertRepositoryWhole, filesUnder, h2Request, killResticMidUpload, pidRecordingProgram, resticStdio, spawnStdio,
  type StdioRestic,
} from './support/stdio.js';
import { removeDir, tempDir } from './support/tmp.js';
import { hashTree, makeTree, writeRandomFile } from './support/tree.js';

let work: string;
before(async () => {
  ensureBuilt();
  work = await tempDir('pyrs-stdio-');
});
after(() => removeDir(work));

function ok(result: ResticResult, what: string): ResticResult {
  assert.equal(result.code, 0, `restic ${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
}

describe('restic -o rclone.program=pyrestserver: the whole workflow on the local backend', () => {
  let data: string;
  let source: string;
  let s: StdioRestic;
  before(async () => {
    data = join(work, 'data');
    source = join(work, 'source');
    await makeTree(source, { seed: 'stdio' });
    // --debug: debug lines go to stderr; one byte of them on stdout would break HTTP/2.
    s = { args: `serve --stdio --debug --path ${data}`, remote: 'alice/laptop' };
  });

  it('init creates the repository below --path at the remote', async () => {
    ok(await resticStdio(['init'], s), 'init');
    assert.ok((await stat(join(data, 'alice/laptop/config'))).isFile());
  });

  it('backup, check --read-data, byte-identical restore', async () => {
    ok(await resticStdio(['backup', source], s), 'backup');
    assert.match(ok(await resticStdio(['check', '--read-data'], s), 'check').stdout, /no errors were found/);
    const target = join(work, 'restore-1');
    ok(await resticStdio(['restore', 'latest', '--target', target], s), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
  });

  it('a second backup, forget --prune, check, restore', async () => {
    await writeRandomFile(join(source, 'docs/a/small-1.bin'), 'changed', 5000);
    await writeRandomFile(join(source, 'new/added.bin'), 'added', 700_000);
    ok(await resticStdio(['backup', source], s), 'second backup');
    const prune = ok(await resticStdio(['forget', '--keep-last', '1', '--prune'], s), 'forget --prune');
    assert.match(prune.stdout, /remove 1 snapshots|removed|1 snapshots/);
    const snapshots = JSON.parse(ok(await resticStdio(['--json', 'snapshots'], s), 'snapshots').stdout) as unknown[];
    assert.equal(snapshots.length, 1);
    assert.match(ok(await resticStdio(['check', '--read-data'], s), 'check').stdout, /no errors were found/);
    const target = join(work, 'restore-2');
    ok(await resticStdio(['restore', 'latest', '--target', target], s), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
    assert.ok((await assertRepositoryWhole(join(data, 'alice/laptop'))) > 5);
  });

  it("restic's default rclone.args (serve restic --stdio --b2-hard-delete REMOTE), --path from the environment", async () => {
    const result = ok(await resticStdio(['--json', 'snapshots'], { remote: 'alice/laptop', env: { PYRESTSERVER_PATH: data } }), 'snapshots');
    assert.equal((JSON.parse(result.stdout) as unknown[]).length, 1);
  });

  it('remotes outside the root are refused with a clear error and create nothing', async () => {
    for (const remote of ['../escape', '/abs/path', 'alice/../../escape', 'b2:bucket']) {
      const result = await resticStdio(['init'], { ...s, remote });
      assert.notEqual(result.code, 0, remote);
      assert.match(result.stderr, /rclone: pyrestserver: error \[PYRS_USAGE\]/, `${remote}: ${result.stderr}`);
    }
    assert.deepEqual(await readdir(work).then((e) => e.filter((n) => n.includes('escape'))), []);
    assert.deepEqual((await readdir(data)).sort(), ['alice']);
  });
});

describe('policies over stdio', () => {
  it('--append-only: backup works, forget --prune fails, nothing is deleted', async () => {
    const data = join(work, 'ao');
    const source = join(work, 'ao-source');
    await makeTree(source, { seed: 'ao', files: [{ path: 'a.bin', size: 300_000 }, { path: 'b.bin', size: 1_000 }] });
    const plain = { args: `serve --stdio --path ${data}`, remote: 'r' };
    const appendOnly = { args: `serve --stdio --append-only --path ${data}`, remote: 'r' };
    ok(await resticStdio(['init'], appendOnly), 'init');
    ok(await resticStdio(['backup', source], appendOnly), 'backup 1');
    ok(await resticStdio(['backup', '--force', source], appendOnly), 'backup 2');
    const before = await filesUnder(join(data, 'r'));
    const prune = await resticStdio(['forget', '--keep-last', '1', '--prune'], appendOnly);
    assert.notEqual(prune.code, 0, prune.stdout);
    const afterFiles = (await filesUnder(join(data, 'r'))).filter((f) => !f.startsWith('locks/'));
    assert.deepEqual(afterFiles, before.filter((f) => !f.startsWith('locks/')));
    // The same repository without the flag: prune goes through (the refusal was the policy).
    ok(await resticStdio(['unlock'], plain), 'unlock');
    ok(await resticStdio(['forget', '--keep-last', '1', '--prune'], plain), 'forget --prune without --append-only');
  });

  it('--max-size: a backup over the quota fails', async () => {
    const data = join(work, 'quota');
    const source = join(work, 'quota-source');
    await writeRandomFile(join(source, 'big.bin'), 'quota', 3_000_000);
    const q = { args: `serve --stdio --max-size 1000000 --path ${data}`, remote: 'q' };
    ok(await resticStdio(['init'], q), 'init');
    const result = await resticStdio(['backup', source], { ...q, timeoutMs: 60_000 });
    assert.notEqual(result.code, 0, result.stdout);
  });
});

describe('the connection', () => {
  it('exits 0 when the client closes the pipe; the probe of a missing file is a plain 404', async () => {
    const data = await tempDir('pyrs-stdio-exit-');
    const server = spawnStdio(['--path', data, 'repo']);
    const probe = await h2Request(server.session, { ':method': 'GET', ':path': '/file-12345' });
    assert.equal(probe.status, 404);
    server.session.close();
    server.child.stdin!.end();
    assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
    assert.equal(server.stderr(), '', 'nothing logged at the default level');
    await removeDir(data);
  });

  it('SIGTERM keeps the connection for the client (its lock removal), then exit 0 when it closes', async () => {
    const data = await tempDir('pyrs-stdio-signal-');
    const server = spawnStdio(['--path', data, 'repo']);
    assert.equal((await h2Request(server.session, { ':method': 'GET', ':path': '/file-1' })).status, 404);
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await h2Request(server.session, { ':method': 'GET', ':path': '/file-2' })).status, 404, 'still served after SIGTERM');
    server.session.close();
    server.child.stdin!.end();
    assert.deepEqual(await server.exited, { code: 0, signal: null }, server.stderr());
    await removeDir(data);
  });

  it('a second signal drops the connection at once (exit 128+signal)', async () => {
    const data = await tempDir('pyrs-stdio-signal2-');
    const server = spawnStdio(['--path', data, 'repo']);
    assert.equal((await h2Request(server.session, { ':method': 'GET', ':path': '/file-1' })).status, 404);
    const started = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 143, signal: null }, server.stderr());
    assert.ok(Date.now() - started < 5000, 'well before the grace period ends');
    await removeDir(data);
  });

  it('request paths cannot leave the repository', async () => {
    const data = await tempDir('pyrs-stdio-paths-');
    ok(await resticStdio(['init'], { args: `serve --stdio --path ${data}`, remote: 'bob' }), 'init bob');
    const server = spawnStdio(['--path', data, 'alice']);
    for (const path of ['/../bob/config', '/%2e%2e/bob/config', '/..%2Fbob/config', '//bob/config']) {
      const r = await h2Request(server.session, { ':method': 'GET', ':path': path });
      assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
    }
    server.session.close();
    server.child.stdin!.end();
    assert.equal((await server.exited).code, 0);
    await removeDir(data);
  });

  it('an upload cut off by the client leaves no temporary file; the server exits 0', async () => {
    const data = await tempDir('pyrs-stdio-cut-');
    ok(await resticStdio(['init'], { args: `serve --stdio --path ${data}`, remote: 'r' }), 'init');
    const server = spawnStdio(['--path', data, 'r']);
    const name = 'ab'.repeat(32);
    const req = server.session.request({ ':method': 'POST', ':path': `/data/${name}`, 'content-length': String(4 << 20) });
    req.on('error', () => {});
    req.write(Buffer.alloc(1 << 20, 7));
    // Wait until the server has the temporary file open.
    const dir = join(data, 'r/data/ab');
    for (let i = 0; i < 200 && (await readdir(dir)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal((await readdir(dir)).length, 1, 'the upload started');
    server.child.stdin!.destroy();
    server.child.stdout!.destroy();
    assert.equal((await server.exited).code, 0, server.stderr());
    assert.deepEqual(await readdir(dir), []);
    await removeDir(data);
  });
});

describe('a restic killed mid-upload', () => {
  it('leaves nothing partial behind, and the next backup and check succeed', async () => {
    const data = join(work, 'killed');
    const source = join(work, 'killed-source');
    await writeRandomFile(join(source, 'big-1.bin'), 'k1', 24 << 20);
    await writeRandomFile(join(source, 'big-2.bin'), 'k2', 24 << 20);
    const { program, lastPid } = await pidRecordingProgram(work);
    const s = { program, args: `serve --stdio --path ${data}`, remote: 'k' };
    ok(await resticStdio(['init'], s), 'init');
    const repo = join(data, 'k');
    await killResticMidUpload(s, source, repo, lastPid);
    await assertRepositoryWhole(repo);

    ok(await resticStdio(['backup', source], s), 'backup after the kill');
    // The killed restic's lock is left (restic never removed it); unlock removes it as stale.
    ok(await resticStdio(['unlock'], s), 'unlock');
    assert.match(ok(await resticStdio(['check', '--read-data'], s), 'check').stdout, /no errors were found/);
    await assertRepositoryWhole(repo);
    const target = join(work, 'killed-restore');
    ok(await resticStdio(['restore', 'latest', '--target', target], s), 'restore');
    assert.deepEqual(await hashTree(join(target, source)), await hashTree(source));
  });
});
